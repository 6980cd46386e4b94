"""The batch's long-lived grading processes (``grader/batch/grading_process.py``, its protocol,
and ``engine.GradingServer``, its client): many submissions through one server, each graded in a
fresh sandboxed worker; a server killed at the cap, dead or talking nonsense is never a 0 and is
replaced for the next submission.

The gradings here are real ones of one quick part (softmax, 9 points). The tests of the client's
rules (the protocol's faults, the number of gradings per server) run a stand-in server, a few
lines of Python that speak the protocol (``GradingServer.program``)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.batch import engine
from grader.batch.records import GRADED, NOT_GRADED
from tests.conftest import REPOSITORY, WORKED_SOLUTION
from tests.test_batch import alive, hanging

SOFTMAX = ["softmax"]
SOFTMAX_POINTS = 9


@pytest.fixture(scope="module")
def worked() -> str:
    return WORKED_SOLUTION.read_text()


@pytest.fixture(autouse=True)
def no_server_left():
    """Each test starts with no server of this thread and leaves none behind."""
    engine.close_servers({threading.get_ident()})
    yield
    engine.close_servers()


def this_thread_server() -> engine.GradingServer | None:
    return getattr(engine._THREAD, "server", None)


def group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry))
    return found


def polluter(worked: str) -> str:
    """Leaves what it can behind in its process: a global of its own in numpy, and numpy's exp
    monkeypatched to a wrong one (which costs its own softmax points)."""
    return worked + ("\nnp.NNGRADE_LEFTOVER = True\n_real_exp = np.exp\n"
                     "np.exp = lambda x, *a, **k: _real_exp(x) * 0 + 1.0\n")


def detector(worked: str) -> str:
    """The worked solution, whose softmax answers wrong if it finds any of ``polluter``'s
    leftovers."""
    old = "        # BEGIN SOLUTION softmax\n"
    check = ("        if np.__dict__.get('NNGRADE_LEFTOVER') or abs(np.exp(1.0) - np.e) > 1e-12:\n"
             "            return x * 0.0\n")
    assert worked.count(old) == 1
    return worked.replace(old, old + check)


def softmax_score(outcome: dict) -> float:
    return next(part["score"] for part in outcome["grading"]["parts"] if part["name"] == "softmax")


def test_one_server_grades_each_submission_in_a_fresh_sandbox(worked):
    first = engine.grade_bytes(polluter(worked).encode(), parts=SOFTMAX)
    server = this_thread_server()
    assert server is not None and server.usable
    second = engine.grade_bytes(detector(worked).encode(), parts=SOFTMAX)
    assert this_thread_server() is server and server.gradings == 2   # the same process graded both
    assert first["status"] == second["status"] == GRADED, (first["reason"], second["reason"])
    assert softmax_score(first) < SOFTMAX_POINTS, first["grading"]
    # nothing of the first submission reached the second: full marks, with its own results
    assert softmax_score(second) == SOFTMAX_POINTS, second["grading"]
    assert first["grading"]["score"] < second["grading"]["score"] == SOFTMAX_POINTS
    assert first["grading"]["submission"] != second["grading"]["submission"]
    # ... and the detector would have seen them: in one process, it loses its points
    both = engine.grade_bytes(polluter(detector(worked)).encode(), parts=SOFTMAX)
    assert both["status"] == GRADED and softmax_score(both) == 0, both["grading"]
    assert this_thread_server() is server and server.gradings == 3
    # an interrupted batch kills the servers, idle ones included
    pid = server.process.pid
    engine.kill_running()
    server.process.wait(timeout=30)
    assert group_gone(pid)


def test_a_grading_past_its_cap_is_killed_and_the_next_goes_to_a_fresh_server(worked, monkeypatch):
    # The budgets as for an uncapped grading, so that only the cap can end the hanging one.
    monkeypatch.setattr(engine, "budget_scale", lambda parts, cap_s: 1.0)
    started = time.monotonic()
    outcome = engine.grade_bytes(hanging(worked).encode(), parts=SOFTMAX, cap_s=20)
    assert time.monotonic() - started < 60
    assert outcome["status"] == NOT_GRADED and outcome["grading"] is None, outcome
    assert outcome["reason"] == (
        "the grading ran past its wall-clock cap of 20 s; the grader's own limits stop a "
        "submission long before that, so the grading machine was likely overloaded; a re-run "
        "grades it")
    killed = this_thread_server()
    assert killed is not None and killed.stopped and group_gone(killed.process.pid)
    assert killed.process.returncode == -signal.SIGKILL
    monkeypatch.undo()
    outcome = engine.grade_bytes(worked.encode(), parts=SOFTMAX)
    assert outcome["status"] == GRADED and softmax_score(outcome) == SOFTMAX_POINTS, outcome["reason"]
    assert this_thread_server() is not killed


def test_a_server_that_dies_mid_grading_gives_not_graded_and_is_replaced(worked):
    with ThreadPoolExecutor(max_workers=1) as pool:   # one thread: one server at a time
        owner = pool.submit(threading.get_ident).result()
        future = pool.submit(engine.grade_bytes, hanging(worked).encode(), parts=SOFTMAX, cap_s=600)
        deadline = time.monotonic() + 120
        server, working = None, []   # a child of the server: a sandboxed worker, mid-grading
        while time.monotonic() < deadline and not working:
            server = next((s for s in list(engine._SERVERS) if s.owner == owner), None)
            working = children(server.process.pid) if server else []
            time.sleep(0.1)
        assert working, "the grading never started its worker"
        os.kill(server.process.pid, signal.SIGKILL)
        outcome = future.result(timeout=120)
        assert outcome["status"] == NOT_GRADED, outcome
        assert outcome["grading"] is None or outcome["grading"]["status"] != "graded", outcome
        assert outcome["reason"].startswith("the grading process exited with code -9 without a "
                                            "results file"), outcome["reason"]
        after = pool.submit(engine.grade_bytes, worked.encode(), parts=SOFTMAX).result(timeout=300)
        assert after["status"] == GRADED and softmax_score(after) == SOFTMAX_POINTS, after["reason"]
        replaced = [s for s in list(engine._SERVERS) if s.owner == owner]
        assert replaced and server not in replaced
        engine.close_servers({owner})
    assert not [s for s in list(engine._SERVERS) if s.owner == owner]


# ---- the client's rules, with a stand-in server -------------------------------------------

STAND_IN = """\
import json, os, sys
print(json.dumps({"ready": True, "protocol": 1, "pid": os.getpid()}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    reply = {"id": request["id"], "done": True, "code": 0}
%s
    print(json.dumps(reply), flush=True)
"""


def stand_in(monkeypatch, body: str = "") -> None:
    monkeypatch.setattr(engine.GradingServer, "program", ("-c", STAND_IN % body))


@pytest.mark.parametrize(("body", "reason"), [
    ("    print('not json'); sys.stdout.flush()",
     "could not grade: the grading process broke its protocol: it wrote b'not json', which is not JSON"),
    ("    reply['id'] = 'another'",
     "could not grade: the grading process broke its protocol: it answered {'id': 'another'"),
    ("    reply['code'] = 'zero'",
     "could not grade: the grading process broke its protocol: it answered {'id':"),
    ("    print('dying', file=sys.stderr); os._exit(3)",
     "the grading process exited with code 3 without a results file; its last output: dying"),
], ids=["not-json", "another-id", "no-code", "dies"])
def test_a_server_that_breaks_the_protocol_or_dies_grades_nobody(monkeypatch, body, reason):
    stand_in(monkeypatch, body)
    outcome = engine.grade_bytes(b"x = 1\n", parts=SOFTMAX, cap_s=60)
    assert outcome["status"] == NOT_GRADED and outcome["grading"] is None, outcome
    assert outcome["reason"].startswith(reason), outcome["reason"]
    server = this_thread_server()
    assert server.stopped and group_gone(server.process.pid)


def test_a_server_is_replaced_after_its_gradings_and_after_an_abnormal_end(monkeypatch):
    stand_in(monkeypatch, "    data = open(request['submission'], 'rb').read()\n"
                          "    reply['code'] = 2 if data == b'restart-me' else 0")
    monkeypatch.setattr(engine, "SERVER_GRADINGS", 3)
    pids = []
    for data in (b"a", b"b", b"c", b"d", b"restart-me", b"e"):
        outcome = engine.grade_bytes(data, parts=SOFTMAX, cap_s=60)
        # the stand-in writes no results.json: not graded, saying so
        assert outcome["status"] == NOT_GRADED and "without a results file" in outcome["reason"]
        pids.append(this_thread_server().process.pid)
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] != pids[5], pids
    monkeypatch.setenv("NNGRADE_SOMETHING_NEW", "1")   # a server keeps the environment it had
    engine.grade_bytes(b"f", parts=SOFTMAX, cap_s=60)
    assert this_thread_server().process.pid != pids[5]
    assert this_thread_server().environment["NNGRADE_SOMETHING_NEW"] == "1"


def test_a_single_grading_keeps_no_server(monkeypatch):
    stand_in(monkeypatch)
    engine.grade_bytes(b"x", parts=SOFTMAX, cap_s=60, keep_server=False)
    server = this_thread_server()
    assert server.stopped and server not in engine._SERVERS and not alive([server.process.pid])


# ---- the server itself, spoken to directly --------------------------------------------------

def test_the_server_speaks_json_lines_and_keeps_stdout_for_replies(tmp_path):
    submission = tmp_path / "solution.py"
    submission.write_text(WORKED_SOLUTION.read_text())
    server = subprocess.Popen([sys.executable, "-m", "grader.batch.grading_process"], cwd=tmp_path,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, **engine.SINGLE_THREAD})
    try:
        def ask(request) -> dict:
            line = request if isinstance(request, bytes) else json.dumps(request).encode()
            server.stdin.write(line + b"\n")
            server.stdin.flush()
            return json.loads(server.stdout.readline())

        ready = json.loads(server.stdout.readline())
        assert ready == {"ready": True, "protocol": 1, "pid": server.pid}
        request = {"id": "r1", "submission": str(submission), "results_json": str(tmp_path / "r.json"),
                   "log": str(tmp_path / "r1.log"), "parts": ["softmax"], "budget_scale": 1.0}
        assert ask(b"not json") == {"id": None, "done": False, "code": 2,
                                    "error": "the request is not JSON"}
        refused = ask({**request, "id": "r0", "parts": ["nonsense"]})
        assert refused["id"] == "r0" and not refused["done"] and "unknown part" in refused["error"]
        nowhere = ask({**request, "id": "r0", "log": str(tmp_path / "no-folder" / "r0.log")})
        assert nowhere["id"] == "r0" and not nowhere["done"] and "the log" in nowhere["error"]
        assert not (tmp_path / "r.json").exists()
        assert ask(request) == {"id": "r1", "done": True, "code": 0}
        results = json.loads((tmp_path / "r.json").read_text())
        assert results["score"] == SOFTMAX_POINTS
        log = (tmp_path / "r1.log").read_text()
        assert "softmax" in log and "9" in log, log   # the score table went to the request's log
        second = ask({**request, "id": "r2", "log": str(tmp_path / "r2.log")})
        assert second == {"id": "r2", "done": True, "code": 0}
        server.stdin.close()
        assert server.wait(timeout=60) == 0
        assert server.stdout.read() == b""   # nothing but replies on stdout
    finally:
        server.kill()
        server.wait()


def test_the_server_runs_single_threaded():
    probe = ("import os, sys; sys.argv = ['x']\n"
             "from grader.batch import grading_process as g\n"
             "g.Server(); import torch; print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'])")
    output = subprocess.run([sys.executable, "-c", probe], cwd=REPOSITORY, capture_output=True,
                            text=True, env={**os.environ, **engine.SINGLE_THREAD}, timeout=300)
    assert output.stdout.split() == ["1", "1"], output.stderr
