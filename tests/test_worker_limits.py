"""The grading process survives the worker (issue 10, section 3): the time budget holds while the
worker keeps the pipe busy, messages are bounded and decoded safely, the grader's memory stays
bounded, and /tmp and the worker folder are limited. Each test runs a real worker."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import REPOSITORY
from test_worker import MODES, relu_works, session_for

from grader.isolation import sandbox
from grader.isolation.worker import Limits, Session

MIB = 1024 ** 2

# Finds the id of the request being served, from the submission's side, on any version of the
# worker (the request is a local of the worker's main loop): with it a message is not stale.
CURRENT_ID = """
def _current_id():
    import sys
    frame = sys._getframe()
    while frame is not None:
        request = frame.f_locals.get("request")
        if isinstance(request, dict) and isinstance(request.get("id"), str):
            return request["id"]
        frame = frame.f_back
    raise RuntimeError("no request id")


def _raw_message(header):
    import os, struct, sys
    frame = struct.pack("<I", len(header)) + header
    os.write(int(sys.argv[2]), struct.pack("<Q", len(frame)) + frame)
"""


def call_with_guard(session: Session, seconds: float, *args, **kwargs):
    """``session.call`` in a thread; fails (and kills the worker) if it takes over ``seconds``."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(outcome=session.call(*args, **kwargs)),
                              daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        session.worker.kill()
        thread.join(10)
        pytest.fail(f"the call was still running after {seconds} s: the budget was not enforced")
    return box["outcome"], time.monotonic() - started


STALE_WRITER = """
    def busy(self):
        import os, sys, _nngrade_wire as wire
        if os.fork() == 0:     # a child that burns CPU keeping the reply pipe full of stale replies
            while True:
                wire.write_message(int(sys.argv[2]), {"id": "stale", "ok": True, "value": 0})
        time.sleep(5)
        return "finished"
"""

# The budget is 2 s of CPU time (of the worker and its descendants); the wall-clock cap (3x) is
# 6 s. Each call below ends after 5 s of wall time, its child having used more than 2 s of CPU
# by then, so only the CPU budget can stop it; the old code measured CPU time only after
# 0.25 s without any message from the worker.


def test_the_budget_holds_while_a_forked_child_keeps_the_pipe_busy(tmp_path):
    # Seen: a forked child writing stale replies let a 35 s computation finish under a 30 s budget.
    session = session_for(tmp_path, STALE_WRITER, prelude="import time\n", call_timeout_s=2.0)
    try:
        outcome, seconds = call_with_guard(session, 60, "busy")
        assert outcome.timed_out and "time limit" in outcome.failure_text(), outcome
        assert relu_works(session)
    finally:
        session.close()


CALLBACK_LOOP = """
    def ask_often(self, x):
        import os
        if os.fork() == 0:      # a child that burns CPU
            while True:
                pass
        for _ in range(100):
            time.sleep(0.05)
            self.relu(x)        # a reference proxy: a callback to the grader, every 0.05 s
        return "finished"
"""


def test_the_budget_holds_across_callbacks(tmp_path):
    session = session_for(tmp_path, CALLBACK_LOOP, prelude="import time\n", call_timeout_s=2.0)
    session.callbacks = lambda name, args, kwargs, state: np.zeros(2)
    try:
        outcome, seconds = call_with_guard(session, 60, "ask_often", args=[np.zeros(2)],
                                           substitute=["relu"])
        assert outcome.timed_out, outcome
    finally:
        session.close()


MALFORMED = {
    "wrongly typed array header": '{"__nd__": "start", "dtype": "<f8", "shape": "wide"}',
    "5,000-digit integer": "1" * 5000,
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "array of an unknown dtype": '{"__nd__": [0, 8], "dtype": "|O", "shape": [1]}',
    "shape of booleans": '{"__nd__": [0, 8], "dtype": "<f8", "shape": [true]}',
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_reply_ends_the_worker_and_fails_the_call(tmp_path, value):
    # Seen: these escaped the decoder as a grader error, and the worker lived on.
    body = f"""
    def forge(self):
        _raw_message(('{{"id": "' + _current_id() + '", "ok": true, "value": ' + {value!r} + '}}').encode())
        import time
        time.sleep(30)
    """
    session = session_for(tmp_path, body, prelude=CURRENT_ID)
    try:
        outcome = session.call("forge")
        assert not outcome.ok and outcome.error_type == "ProtocolError", outcome
        assert "malformed" in outcome.failure_text() and "Traceback" not in outcome.failure_text()
        assert relu_works(session) and session.restarts == 1, "the worker must have been ended"
    finally:
        session.close()


def test_a_reply_far_larger_than_its_request_is_refused(tmp_path):
    body = """
    def forge(self):
        header = ('{"id": "' + _current_id() + '", "ok": true, "value": [' + "[]," * (8 << 20)
                  + '[]]}').encode()
        _raw_message(header)
        return 1
    """
    session = session_for(tmp_path, body, prelude=CURRENT_ID)
    try:
        outcome = session.call("forge")
        assert not outcome.ok and outcome.error_type == "ProtocolError", outcome
        assert "allows" in outcome.error_message
        assert relu_works(session)
    finally:
        session.close()


MEMORY_PROBE = """
import json, resource, sys, textwrap
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_worker import session_for

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

session = session_for(Path({folder!r}), textwrap.dedent({body!r}), prelude={prelude!r},
                      call_timeout_s=20.0)
assert session.call("relu", args=[__import__("numpy").zeros(2)]).ok
before = peak_mib()
outcome = session.call("flood")
print(json.dumps({{"before": before, "after": peak_mib(), "ok": outcome.ok,
                  "value": outcome.value if outcome.ok else outcome.failure_text()}}))
session.close()
"""

STALE_FLOOD = """
    def flood(self):
        # 48 MB of empty JSON lists in one stale reply, then the genuine answer
        _raw_message(b'{"id": "stale", "ok": true, "value": [' + b"[]," * (16 << 20) + b'[]]}')
        return "genuine"
"""


def test_a_flood_of_stale_replies_leaves_the_grader_memory_bounded(tmp_path):
    # Seen: one 48 MB stale reply of empty lists took the grader from 0.55 to 2.95 GB.
    script = MEMORY_PROBE.format(tests=str(REPOSITORY / "tests"), folder=str(tmp_path),
                                 body=STALE_FLOOD, prelude=CURRENT_ID)
    process = subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["value"] == "genuine", report
    grown = report["after"] - report["before"]
    assert grown < 64, f"the grader's peak memory grew by {grown:.0f} MiB for one stale reply"


TMP_FILLER = """
    def fill(self, where):
        import os
        written = 0
        try:
            for index in range(12):               # 12 files of 60 MiB (each under the 64 MiB
                with open(os.path.join(where, f"fill{index}"), "wb") as handle:   # file limit)
                    for _ in range(60):
                        handle.write(b"x" * (1 << 20))
                        written += 1 << 20
        except OSError as error:
            return [written, error.errno]
        return [written, 0]
"""


@pytest.mark.skipif("bubblewrap" not in MODES, reason="bubblewrap cannot run on this machine")
def test_the_sandbox_tmp_is_bounded(tmp_path):
    # Seen: 7 GiB written to the sandbox's /tmp went past the memory limit into host RAM.
    session = session_for(tmp_path, TMP_FILLER, mode="bubblewrap", call_timeout_s=20.0)
    try:
        outcome = session.call("fill", args=["/tmp"])
        assert outcome.ok, outcome.failure_text()
        written, errno = outcome.value
        assert written <= Limits().tmp_bytes and errno == 28, outcome.value   # ENOSPC
        assert relu_works(session)
    finally:
        session.close()


FOLDER_FILLER = TMP_FILLER + """
    def fill_and_work(self):
        import os, time
        result = self.fill(os.getcwd())
        time.sleep(2)                              # the call goes on after writing
        return result
"""


@pytest.mark.parametrize("mode", MODES)
def test_the_worker_folder_is_bounded(tmp_path, mode):
    # Seen: 3 GiB written to the worker folder on the host's disk.
    session = session_for(tmp_path, FOLDER_FILLER, mode=mode, call_timeout_s=20.0,
                          folder_bytes=64 * MIB)
    try:
        outcome = session.call("fill_and_work")
        if mode == "bubblewrap":   # a tmpfs of folder_bytes: the excess write fails
            assert outcome.ok, outcome.failure_text()
            written, errno = outcome.value
            assert written <= 64 * MIB and errno == 28, outcome.value
        else:                      # measured while the call runs: the worker is stopped
            assert not outcome.ok and "into its folder" in outcome.failure_text(), outcome
        assert relu_works(session)
    finally:
        session.close()


def test_the_limits_add_up_to_the_memory_limit():
    limits = Limits()
    rlimits = limits.rlimits(private_uid=True)
    assert (rlimits["RLIMIT_AS"] + limits.tmp_bytes + limits.shm_bytes + limits.folder_bytes
            == limits.memory_bytes)
    command = sandbox.bubblewrap_command(REPOSITORY, False, tmp_bytes=limits.tmp_bytes,
                                         folder_bytes=limits.folder_bytes,
                                         shm_bytes=limits.shm_bytes)
    tmp = next(i for i in range(len(command) - 1) if command[i:i + 2] == ["--tmpfs", "/tmp"])
    assert command[tmp - 2:tmp] == ["--size", str(limits.tmp_bytes)]
    shm = next(i for i in range(len(command) - 1) if command[i:i + 2] == ["--tmpfs", "/dev/shm"])
    assert command[shm - 2:shm] == ["--size", str(limits.shm_bytes)]
    assert command[-4:] == ["--remount-ro", "/", "--remount-ro", "/dev"]
    # /tmp is mounted before any Python directory is bound (a venv may live under /tmp)
    python_binds = [i for i, arg in enumerate(command) if arg == "--ro-bind"
                    and any(command[i + 1] == str(path) for path in sandbox.python_paths())]
    assert python_binds and all(i > tmp for i in python_binds)


HANGS_IN_SIGMOID = """
    def sigmoid(self, x):
        while True:
            pass
"""


def test_once_the_hang_allowance_is_spent_a_method_that_hung_is_not_called_again(tmp_path):
    """A submission that hangs in every method must not cost some 70 tests x 30 s: past the
    allowance, a method that already hung fails at once, other calls get a short limit, and a
    method that works still works."""
    session = session_for(tmp_path, HANGS_IN_SIGMOID, call_timeout_s=1.0, hang_budget_s=2.0,
                          call_timeout_after_hangs_s=0.5)
    try:
        x = [np.array([0.0, 1.0])]
        first = session.call("sigmoid", args=x)
        assert first.timed_out and first.shortened == "" and "1 s of CPU" in first.failure_text()
        while session.hung_s < 2.0:       # the allowance: calls that time out add up to 2 s
            assert session.call("sigmoid", args=x).timed_out
        started = time.monotonic()
        again = session.call("sigmoid", args=x)
        assert time.monotonic() - started < 0.5, "a method that hung was called again"
        assert again.timed_out and "not called again" in again.failure_text(), again.failure_text()
        assert "allowance" in again.failure_text() and "infinite loop" in again.failure_text()
        assert relu_works(session)          # a method that never hung runs as before
        assert session.worker is not None and session.hangs >= 2
    finally:
        session.close()
