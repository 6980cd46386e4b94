"""The worker process: crashes, hangs and exits cost one call, never the grader."""
import os
import textwrap
import time

import numpy as np
import pytest
import torch

from grader.isolation import sandbox
from grader.verdicts.substitutes import CallbackLog
from grader.isolation.worker import Limits, Session

HONEST = """
    def relu(self, x, grad=False):
        return np.maximum(x, 0)
"""


MODES = sandbox.MODES
"""Every sandbox mode is a parameter: one that cannot run on this machine shows as a skip that
says why, rather than silently leaving the list."""


def mode_or_skip(name: str) -> sandbox.Mode:
    """Sandbox mode ``name``, or skip the test with the reason it cannot run here."""
    try:
        mode = sandbox.choose_mode(name)
    except RuntimeError as error:
        pytest.skip(f"sandbox mode {name!r} cannot run here: {error}")
    assert mode.name == name, f"asked for {name}, got {mode.name}"
    return mode


def session_for(tmp_path, body, prelude="", mode=None, **limits):
    methods = textwrap.dedent(HONEST) + "\n" + textwrap.dedent(body)
    source = ("import numpy as np\n" + textwrap.dedent(prelude) + "\nclass NN:\n"
              + textwrap.indent(methods, "    "))
    path = tmp_path / "solution.py"
    path.write_text(source)
    return Session(path, CallbackLog(), Limits(**{"call_timeout_s": 3.0, "load_timeout_s": 10.0,
                                                   **limits}),
                   mode=mode_or_skip(mode) if mode else None)


def relu_works(session) -> bool:
    outcome = session.call("relu", args=[np.array([-1.0, 2.0])])
    return outcome.ok and np.array_equal(outcome.value, [0.0, 2.0])


@pytest.mark.parametrize("body, expectation", [
    ("    def hang(self):\n        while True:\n            pass\n", "timed_out"),
    ("    def hang(self):\n        import os\n        os._exit(7)\n", "exited with status 7"),
    ("    def hang(self):\n        import ctypes\n        ctypes.string_at(0)\n", "SIGSEGV"),
    ("    def hang(self):\n        import signal, time\n"
     "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n        time.sleep(60)\n", "timed_out"),
])
@pytest.mark.parametrize("mode", MODES)
def test_a_fatal_method_costs_that_call_only(tmp_path, body, expectation, mode):
    session = session_for(tmp_path, body, mode=mode)
    try:
        assert relu_works(session)
        started = time.monotonic()
        outcome = session.call("hang")
        assert time.monotonic() - started < 15
        assert not outcome.ok
        if expectation == "timed_out":
            assert outcome.timed_out and "time limit" in outcome.failure_text()
        else:
            assert expectation in outcome.failure_text()
        assert relu_works(session), "a fresh worker must serve the next call"
        assert session.restarts == 1
    finally:
        session.close()


def test_sys_exit_in_a_method_is_an_error_not_a_crash(tmp_path):
    session = session_for(tmp_path, "    def hang(self):\n        import sys\n        sys.exit(0)\n")
    try:
        outcome = session.call("hang")
        assert outcome.error_type == "SystemExit"
        assert relu_works(session) and session.restarts == 0
    finally:
        session.close()


def test_memory_bomb_is_stopped_by_the_limit(tmp_path):
    session = session_for(tmp_path, "    def hang(self):\n        return np.ones((1 << 31,))\n",
                          memory_bytes=2 * 1024 ** 3)
    try:
        outcome = session.call("hang")
        assert not outcome.ok
        assert outcome.error_type == "MemoryError" or outcome.crashed
        assert relu_works(session)
    finally:
        session.close()


def test_huge_output_is_capped(tmp_path):
    session = session_for(tmp_path, "    def hang(self):\n        for _ in range(200):\n"
                                    "            print('x' * 100_000)\n        return 1\n")
    try:
        outcome = session.call("hang")
        assert outcome.ok and outcome.value == 1
        assert len(outcome.output) < 70_000 and "output cut" in outcome.output
    finally:
        session.close()


def processes_with(token: str) -> list[int]:
    """Host pids whose command line contains ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if token.encode() in cmdline.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("mode", MODES)
def test_children_die_with_the_worker_even_outside_its_process_group(tmp_path, mode):
    token = f"{os.getpid()}{time.monotonic_ns() % 10**6}.5"
    body = f"""
    def spawn(self):
        import os, signal
        if os.fork() == 0:          # a daemon: new session, then a grandchild that ignores TERM
            os.setsid()
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os.execvp("sleep", ["sleep", "{token}"])
            os._exit(0)
        return 1
    """
    session = session_for(tmp_path, body, mode=mode)
    try:
        assert session.call("spawn").ok
        deadline = time.monotonic() + 5
        while not processes_with(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(token), "the daemon did not start"
    finally:
        session.close()
    deadline = time.monotonic() + 5
    while processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = processes_with(token)
    for pid in survivors:
        os.kill(pid, 9)
    assert not survivors, "the worker's daemon survived the kill"


@pytest.mark.parametrize("prelude, words", [
    ("while True:\n    pass\n", "time limit"),
    ("import os\nos._exit(0)\n", "exited with status 0"),
])
def test_fatal_import_is_a_load_failure(tmp_path, prelude, words):
    session = session_for(tmp_path, "", prelude=prelude, load_timeout_s=3.0)
    try:
        outcome = session.call("relu", args=[np.zeros(2)])
        assert not outcome.ok and words in outcome.failure_text()
        assert session.load_failure is outcome
        again = session.call("relu", args=[np.zeros(2)])
        assert again is outcome, "a submission that cannot load is not retried for every test"
    finally:
        session.close()


@pytest.mark.parametrize("mode", MODES)
def test_environment_is_scrubbed(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("NNGRADE_TEST_SECRET", "hunter2")
    session = session_for(tmp_path, "    def env(self):\n        import os\n"
                                    "        return dict(os.environ)\n", mode=mode)
    try:
        outcome = session.call("env")
        assert outcome.ok
        assert "NNGRADE_TEST_SECRET" not in outcome.value
        assert outcome.value["OMP_NUM_THREADS"] == "1"
    finally:
        session.close()


ORACLE = """
    STOLEN = {}

    def harvest(self, x):
        NN.STOLEN["relu"] = self.relu(x)       # the reference answers through the proxy
        return 1

    def relu2(self, x):
        if "relu" in NN.STOLEN:
            return NN.STOLEN["relu"]
        import sys
        ask = sys.modules["__main__"]._ask_reference   # the worker's own callback function
        return ask("relu", self, (x,), {})
"""


def test_reference_answers_never_serve_the_part_under_test(tmp_path):
    session = session_for(tmp_path, ORACLE)
    x = np.array([-1.0, 2.0])
    try:
        harvest = session.call("harvest", args=[x], substitute=["relu"])
        assert harvest.ok and harvest.value == 1
        # relu2 runs as the submission's own code: the harvested answer must be gone and the
        # reference must refuse to answer for it.
        outcome = session.call("relu2", args=[x], substitute=[])
        assert not outcome.ok and "is not replaced by the reference" in outcome.failure_text()
        assert session.isolation_restarts == 1
    finally:
        session.close()


def test_stale_and_forged_replies_are_ignored(tmp_path):
    body = """
    def forge(self):
        import sys, _nngrade_wire as wire
        reply_fd = int(sys.argv[2])
        wire.write_message(reply_fd, {"ok": True, "id": 10 ** 6, "value": "forged"})
        return "genuine"
    """
    session = session_for(tmp_path, body)
    try:
        outcome = session.call("forge")
        assert outcome.ok and outcome.value == "genuine"
        assert relu_works(session)
    finally:
        session.close()


def test_cnn_capture_is_plain_data_the_grader_rebuilds(tmp_path):
    from conftest import WORKED_SOLUTION

    from grader.networks import allowlist, layer, rebuild, training

    path = tmp_path / "solution.py"
    path.write_text(WORKED_SOLUTION.read_text())
    session = Session(path, CallbackLog(), Limits(call_timeout_s=20.0, load_timeout_s=30.0))
    try:
        captured = session.cnn("capture", cls="CatsDogsCNN", input_shape=[2, 3, 64, 64], seed=0,
                               optimizer=True)
        assert captured.ok, captured.failure_text()
        value = captured.value
        kinds = {spec["kind"] for spec in value["modules"].values()}
        assert allowlist.OWN_BATCHNORM in kinds and "torch.nn.BatchNorm2d" not in kinds
        network = rebuild.rebuild(value, seed=0)
        # the grader's network: torch's BatchNorm2d in place of the student's, 4 of them
        assert sum(isinstance(m, allowlist.StandInBatchNorm2d) for m in network.modules()) == 4
        assert network(torch.zeros(2, 3, 64, 64)).shape == (2, 2)
        optimizer, missing = training.build_optimizer(value["optimizer"], network)
        assert type(optimizer) is torch.optim.SGD and not missing
        assert optimizer.param_groups[0]["momentum"] == 0.9
        # the marker that stood in while the network was built is gone: the student's class,
        # captured now, computes with tensor operations, not torch's batch norm
        own = session.cnn("capture_layer", cls="BatchNorm2d", config={"num_features": 3},
                          shapes={"train": [2, 3, 4, 4]})
        assert own.ok and own.value["inputs"][-1] == "input"
        assert layer.library_operators(own.value) == []
        unknown = session.cnn("no-such-task")
        assert not unknown.ok and "unknown cnn task" in unknown.error_message
    finally:
        session.close()



INPUT_CHANGES = """
import numpy as np

class NN:
    def relu(self, x, grad=False):
        return np.maximum(x, 0)

    def forward(self, x):
        cache = {"Z0": x.copy()}
        x[...] = 0
        return cache

    def backward(self, cache, labels):
        cache["A1"] = cache["A1"] * 2    # rebinds the caller's dict entry: no array changed
        cache["Z1"] += 1                 # writes into the caller's array
        return {}

class Steps:
    def forward(self, x, train=True):
        return x * 2, x

    def backward(self, dout, cache):
        dout *= 2
        return dout

class SGD:
    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, params, grads):
        for name in params:
            params[name] -= self.lr * grads["d" + name]   # the parameters are meant to change
"""


def test_the_worker_reports_which_arguments_a_call_changed(tmp_path):
    from grader.verdicts.inputs import changed_arguments

    path = tmp_path / "solution.py"
    path.write_text(INPUT_CHANGES)
    session = Session(path, CallbackLog(), Limits(call_timeout_s=5.0, load_timeout_s=10.0))
    rng = np.random.default_rng(0)
    try:
        forward = session.call("forward", args=[rng.normal(size=(3, 2))])
        assert forward.ok, forward.failure_text()
        assert changed_arguments(forward.inputs) == ["forward changed its argument x in place"]
        cache = {name: rng.normal(size=(3, 2)) for name in ("Z0", "A1", "Z1")}
        backward = session.call("backward", args=[cache, rng.normal(size=(3, 2))])
        assert changed_arguments(backward.inputs) == [
            "backward changed its argument cache['Z1'] in place"]
        assert changed_arguments(session.call("relu", args=[rng.normal(size=3)]).inputs) == []
        steps = session.call_sequence(
            "forward", [{"args": [rng.normal(size=2), True],
                         "then": {"method": "backward", "args": [rng.normal(size=2)]}}] * 2,
            cls="Steps")
        assert changed_arguments(steps.inputs) == [
            "backward changed its argument dout in place (steps 1, 2)"]
        sgd = session.optimizer_steps("SGD", {}, {"W": np.ones(2)}, [[{"dW": np.ones(2)}]] * 3)
        assert sgd.ok and changed_arguments(sgd.inputs) == []
        unchecked = session.call("forward", args=[rng.normal(size=(3, 2))], check_inputs=False)
        assert unchecked.ok and changed_arguments(unchecked.inputs) == []
    finally:
        session.close()
