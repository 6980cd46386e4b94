"""The warm worker (issue 26): in bubblewrap mode one sandbox per submission holds a zygote that
imports numpy and torch once and forks each worker the grading needs. Forked workers share
nothing between tests, are metered and killed as cold ones are, and a zygote that a submission
breaks only makes the grading start cold workers. Each test runs real workers."""
from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from grader import command_line
from grader.isolation import sandbox, warm
from grader.isolation.policy import CouldNotGrade
from grader.isolation.worker import Limits, Session
from grader.verdicts.substitutes import CallbackLog

KEY = 0x4E4E47   # the System V key of the segment the first worker leaves

LEAVES_AND_LOOKS = f"""
import os, sys, ctypes, time
import numpy as np

SEEN_AT_IMPORT = hasattr(np, "nngrade_mark")
_LIBC = ctypes.CDLL(None, use_errno=True)


class Probe:
    def leave(self):
        '''Change everything one worker could leave for the next.'''
        global MARK
        MARK = 1
        np.nngrade_mark = 1                      # a module shared with the zygote, changed
        sys.modules["numpy"].random.seed(1234)   # the global generator, seeded
        for place in ("/tmp", "/dev/shm", os.getcwd()):
            with open(os.path.join(place, "mark"), "w") as handle:
                handle.write("answers")
        os.makedirs("/tmp/locked/inner")
        with open("/tmp/locked/inner/mark", "w") as handle:
            handle.write("answers")
        os.chmod("/tmp/locked/inner", 0)
        os.chmod("/tmp/locked", 0)
        segment = _LIBC.shmget({KEY}, 4096, 0o1600)   # IPC_CREAT | 0600
        assert segment >= 0, ctypes.get_errno()
        reader, writer = os.pipe()
        if os.fork() == 0:                       # a daemon that leaves the process group
            os.setsid()
            if os.fork() == 0:
                os.write(writer, str(os.getpid()).encode())
                time.sleep(600)
            os._exit(0)
        os.close(writer)
        daemon = int(os.read(reader, 32))
        return {{"daemon": daemon, "random": float(np.random.rand())}}

    def look(self, daemon):
        places = ("/tmp", "/dev/shm", os.getcwd())
        alive = False
        try:
            with open(f"/proc/{{daemon}}/stat") as handle:
                alive = handle.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            pass
        return {{
            "module global": "MARK" in globals() or SEEN_AT_IMPORT,
            "numpy attribute": hasattr(np, "nngrade_mark"),
            "files": sorted(name for place in places for name in os.listdir(place)
                            if name == "mark" or name == "locked"),
            "segment": _LIBC.shmget({KEY}, 0, 0) >= 0,
            "daemon": alive,
            "random": float(np.random.rand()),
        }}

    def write_outside(self):
        '''Where else could a worker write? Nowhere: the root and /dev are read-only.'''
        written = []
        for place in ("/", "/etc", "/dev", os.path.dirname(sys.executable)):
            try:
                with open(os.path.join(place, "mark"), "w") as handle:
                    handle.write("x")
                written.append(place)
            except OSError:
                pass
        return written

    def fill_shm(self):
        try:   # files of 32 MiB, under the file size limit (64 MiB)
            for part in range(3):
                with open(f"/dev/shm/big{{part}}", "wb") as handle:
                    for _ in range(32):
                        handle.write(bytes(1024 ** 2))
        except OSError as error:
            return error.strerror
        return "written"

    def kill_parent(self, signal_number):
        os.kill(os.getppid(), signal_number)
        return os.getppid()

    def pid(self):
        return os.getpid()

    def imported(self, name):
        return name in sys.modules

    def nap(self, seconds):
        time.sleep(seconds)
        return os.getpid()
"""


def bubblewrap_session(tmp_path, source: str, **limits) -> Session:
    """A session in bubblewrap mode (the only one with warm workers) for ``source``; skips the
    test where bubblewrap cannot run."""
    try:
        mode = sandbox.choose_mode("bubblewrap")
    except RuntimeError as error:
        pytest.skip(f"the warm worker needs bubblewrap: {error}")
    path = tmp_path / "solution.py"
    path.write_text(source)
    return Session(path, CallbackLog(), Limits(**{"load_timeout_s": 20.0, **limits}), mode)


@pytest.fixture
def session(tmp_path):
    session = bubblewrap_session(tmp_path, textwrap.dedent(LEAVES_AND_LOOKS), call_timeout_s=5.0)
    session.preflight()
    yield session
    session.close()


def call(session: Session, method: str, *args):
    outcome = session.call(method, args=list(args), cls="Probe", check_inputs=False)
    assert outcome.ok, (outcome.error_type, outcome.error_message, outcome.crashed,
                        outcome.output)
    return outcome.value


def fresh_worker(session: Session) -> None:
    """What an isolation restart does: the next request gets a new worker."""
    session.worker.kill()
    session.worker = None


def test_forked_workers_share_nothing_between_tests(session):
    left = call(session, "leave")
    assert session.worker.forked
    fresh_worker(session)
    seen = call(session, "look", left["daemon"])
    assert session.worker.forked and session.cold_starts == 0, session.warm_failures
    assert seen == {"module global": False, "numpy attribute": False, "files": [],
                    "segment": False, "daemon": False, "random": seen["random"]}
    # The generator the first worker seeded is not the next one's, nor is the zygote's draw.
    fresh_worker(session)
    again = call(session, "look", left["daemon"])
    assert len({left["random"], seen["random"], again["random"]}) == 3


def test_a_forked_worker_can_write_only_its_bounded_places(session):
    assert call(session, "write_outside") == []
    assert call(session, "fill_shm") == "No space left on device"
    assert session.worker.forked


def test_every_restart_forks_a_new_process(session):
    pids = set()
    for _ in range(4):
        pids.add(call(session, "pid"))
        assert session.worker.forked
        fresh_worker(session)
    assert len(pids) == 4 and session.cold_starts == 0


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGSTOP])
def test_a_worker_cannot_stop_its_zygote(session, signal_number, monkeypatch):
    """The zygote is its PID namespace's init: the kernel drops the signals a worker sends it,
    so the next workers are still forked (a stopped zygote would be given up after 3 s here)."""
    monkeypatch.setattr(warm, "ANSWER_S", 3.0)
    assert call(session, "kill_parent", int(signal_number)) == 1
    for _ in range(3):
        fresh_worker(session)
        call(session, "pid")
        assert session.worker.forked
    assert session.warm_failures == [] and session.cold_starts == 0


def test_a_closed_zygote_only_makes_the_next_workers_cold_or_fresh(session, monkeypatch):
    """Should a zygote die all the same (the machine killed it), the grading goes on: the next
    worker comes from a new warm sandbox, and cold ones once that fails too."""
    call(session, "pid")
    os.kill(session.warm.zygote_pid, signal.SIGKILL)
    fresh_worker(session)
    assert call(session, "write_outside") == []
    assert len(session.warm_failures) == 1, session.warm_failures
    assert session.worker.forked   # by the new warm sandbox
    monkeypatch.setattr(warm, "READY_S", 0.0)
    os.kill(session.warm.zygote_pid, signal.SIGKILL)
    for _ in range(2):
        fresh_worker(session)
        assert call(session, "pid") > 0
    assert not session.worker.forked and session.cold_starts >= 1
    assert len(session.warm_failures) == warm.WARM_ATTEMPTS


def test_a_worker_is_metered_and_stopped_in_the_warm_sandbox(tmp_path):
    session = bubblewrap_session(
        tmp_path, "class Probe:\n    def spin(self):\n        while True:\n            pass\n"
                  "    def fine(self):\n        return 1\n", call_timeout_s=1.0)
    try:
        session.preflight()
        outcome = session.call("spin", cls="Probe")
        assert outcome.timed_out and not outcome.idle_out
        assert 1.0 <= outcome.cpu_s < 3.0, outcome.cpu_s
        assert session.call("fine", cls="Probe").value == 1
        assert session.worker.forked and session.cold_starts == 0
    finally:
        session.close()


def test_without_a_zygote_the_grading_still_starts_cold_workers(tmp_path, monkeypatch):
    """A warm sandbox that never says it is ready is given up on: cold workers grade."""
    session = bubblewrap_session(tmp_path, "class Probe:\n    def pid(self):\n        return 7\n")
    monkeypatch.setattr(warm, "READY_S", 0.0)
    try:
        session.preflight()
        assert session.call("pid", cls="Probe").value == 7
        assert not session.worker.forked and session.cold_starts == 2
        assert len(session.warm_failures) == warm.WARM_ATTEMPTS
    finally:
        session.close()


def test_a_cold_failure_after_a_warm_one_is_could_not_grade(tmp_path, monkeypatch):
    """The environment is never the student's fault: when neither a forked nor a cold worker
    can start, the grading stops with could-not-grade."""
    session = bubblewrap_session(tmp_path, "X = 1\n")
    monkeypatch.setattr(warm, "READY_S", 0.0)
    monkeypatch.setattr(sandbox, "interpreter", lambda: "/nonexistent/python")
    try:
        with pytest.raises(CouldNotGrade):
            session.preflight()
    finally:
        session.close()


def test_the_warm_sandbox_leaves_nothing_behind(session):
    folder, pids = session.warm.directory, (session.warm.root_pid, session.warm.zygote_pid)
    call(session, "leave")
    session.close()
    assert not folder.exists()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie, left to a subreaper that an
    earlier test of this process made, has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_restart_costs_a_fork_not_an_import_of_torch(session):
    """The point of the lever, in CPU seconds of the sandbox's whole tree (what a batch pays):
    a cold start imports torch, about 1.5 CPU s."""
    call(session, "pid")
    spent = []
    for _ in range(3):
        before = sandbox.tree_usage(session.warm.root_pid)[0]
        fresh_worker(session)
        call(session, "pid")
        spent.append(sandbox.tree_usage(session.warm.root_pid)[0] - before)
    assert session.cold_starts == 0 and session.worker.forked
    assert max(spent) < 0.5, spent


def test_a_grading_of_part_4_starts_its_zygote_with_torch_dynamo(tmp_path):
    """The zygote of a grading whose parts trace networks imports ``torch._dynamo`` before its
    first fork, so that the preflight's worker already has it; one of numpy parts does not wait
    for it, and only names from ``PRELOADABLE`` are imported."""
    assert warm.preloads_for(("init", "backward")) == ()
    assert warm.preloads_for(("backward", "mnist_cnn")) == ("torch._dynamo",)
    assert warm.preloads_for(("batchnorm2d",)) == ("torch._dynamo",)
    session = bubblewrap_session(tmp_path, textwrap.dedent(LEAVES_AND_LOOKS), call_timeout_s=5.0)
    session.preloads = ("torch._dynamo", "os.path; import nothing")
    try:
        session.preflight()
        assert call(session, "imported", "torch._dynamo")
        assert not call(session, "imported", "os.path; import nothing")
        assert session.forked_starts >= 1 and session.cold_starts == 0, session.warm_failures
    finally:
        session.close()


def test_a_preload_reaches_the_workers_forked_after_and_is_not_metered(session):
    """The zygote imports ``torch._dynamo`` while idle; the workers forked after have it, and
    what the zygote spends meanwhile is not charged to the worker that runs then."""
    assert not call(session, "imported", "torch._dynamo")
    session.preload(["torch._dynamo", "os.path; import nothing"])   # the second is refused
    outcome = session.call("nap", args=[3.0], cls="Probe", check_inputs=False)
    assert outcome.ok and outcome.cpu_s < 0.3, outcome.cpu_s   # the import ran meanwhile
    deadline = time.monotonic() + 20
    while True:
        fresh_worker(session)
        if call(session, "imported", "torch._dynamo"):
            break
        assert time.monotonic() < deadline, "the preload never reached a forked worker"
        time.sleep(0.5)
    assert session.worker.forked and session.warm_failures == []


def test_the_prestarted_sandbox_serves_only_the_grading_it_was_made_for(tmp_path, monkeypatch):
    """``pytest grader`` and ``grade`` start the warm sandbox from their command line, before the
    full parse (``grader/command_line.py``): a session takes it only for the same file, mode and
    sandbox limits, once; it was started with the preloads of the parts asked for."""
    try:
        mode = sandbox.choose_mode("bubblewrap")
    except RuntimeError as error:
        pytest.skip(f"the warm worker needs bubblewrap: {error}")
    path = tmp_path / "solution.py"
    path.write_text(textwrap.dedent(LEAVES_AND_LOOKS))
    arguments = ["-q", "--submission", str(path), "--parts=mnist_cnn,backward", "--sandbox",
                 "bubblewrap"]
    assert command_line.option_value(arguments, "--submission") == str(path)
    assert command_line.option_value(arguments, "--sandbox") == "bubblewrap"
    assert command_line.option_value(arguments, "--experiments") is None
    assert command_line.parts_guess(arguments) == ("backward", "mnist_cnn")   # registry order
    assert command_line.parts_guess(["--parts", "no_such_part"]) == ()
    monkeypatch.chdir(tmp_path)
    assert command_line.submission_path(None, tmp_path / "elsewhere") == path.resolve()
    assert command_line.submission_path(str(path), tmp_path) == path.resolve()

    warm.prestart(path, "bubblewrap", command_line.parts_guess(arguments))
    other = tmp_path / "other.py"
    other.write_text("")
    assert warm.take_prestarted(other, Limits(), mode) is None
    assert warm.take_prestarted(path, Limits(tmp_bytes=64 * 1024 ** 2), mode) is None
    taken = warm.take_prestarted(path, Limits(), mode)
    try:
        assert taken is not None and taken.preloads == ("torch._dynamo",)
        assert warm.take_prestarted(path, Limits(), mode) is None   # once
        forked = taken.fork()
        assert forked.pid > 0
    finally:
        if taken is not None:
            taken.close()
