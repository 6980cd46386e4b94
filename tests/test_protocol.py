"""The protocol between the grader and the worker (grader/isolation/PROTOCOL.md): every request
type the grader sends is handled inside, every handler is sent, and each one is documented."""
from __future__ import annotations

import ast
import re

import numpy as np

from conftest import REPOSITORY
from grader.isolation import INSIDE_COPIES
from grader.isolation.worker import Limits, Session, Worker
from grader.verdicts.substitutes import CallbackLog

GRADER = REPOSITORY / "grader"
ISOLATION = GRADER / "isolation"


def _dict_keys(path, name: str) -> set[str]:
    """The string keys of the module-level dict literal ``name = {...}`` in ``path``."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            return {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
    raise AssertionError(f"{path.name} has no dict literal {name}")


def ops_sent(trusted=None) -> set[str]:
    """Every ``"op": "<name>"`` in a dict literal of the grader's side of the boundary (the
    modules of grader/isolation, but those copied into the sandbox and ``warm.py``, which
    speaks to the zygote, not to a worker)."""
    sent = set()
    if trusted is None:
        trusted = [path for path in ISOLATION.glob("*.py")
                   if path.name not in INSIDE_COPIES and path.name != "warm.py"]
    for node in (node for path in trusted for node in ast.walk(ast.parse(path.read_text()))):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value == "op"
                        and isinstance(value, ast.Constant)):
                    sent.add(value.value)
    return sent


def cnn_tasks_sent() -> set[str]:
    """The first argument of every ``<session>.cnn("<task>", ...)`` call in the grader (visible
    and hidden tests, verdicts)."""
    tasks = set()
    for path in GRADER.rglob("*.py"):
        if ISOLATION / "inside" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "cnn" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                tasks.add(node.args[0].value)
    return tasks


def documented(column_heading: str) -> set[str]:
    """The names in the first column of the PROTOCOL.md table headed by ``column_heading``."""
    text = (ISOLATION / "PROTOCOL.md").read_text()
    names, inside = set(), False
    for line in text.splitlines():
        if line.startswith(f"| `{column_heading}` |"):
            inside = True
            continue
        if inside and line.startswith("| ---"):
            continue
        if inside and line.startswith("| `"):
            names.add(re.match(r"\| `([^`]+)`", line).group(1))
        elif inside:
            inside = False
    return names


def test_every_message_to_the_zygote_is_handled_and_documented():
    """The warm worker's own small protocol: what ``warm.py`` sends is what the zygote's loop
    compares ``op`` with, and the PROTOCOL.md table of the warm worker names each."""
    sent = ops_sent([ISOLATION / "warm.py"])
    handled = set()
    zygote = ast.parse((ISOLATION / "inside" / "zygote.py").read_text())
    for node in ast.walk(zygote):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
                and node.left.id == "op" and isinstance(node.comparators[0], ast.Constant)):
            handled.add(node.comparators[0].value)
    assert sent == handled == {"fork", "reset", "preload"}
    text = (ISOLATION / "PROTOCOL.md").read_text()
    for op in sent:
        assert f'`{{"op": "{op}"' in text, op


def test_every_request_type_sent_is_handled_inside_and_every_handler_is_sent():
    handled = _dict_keys(ISOLATION / "inside" / "worker_main.py", "HANDLERS")
    sent = ops_sent()
    assert sent, "no request type found in grader/isolation"
    assert sent - handled == set(), "sent but not handled inside"
    assert handled - sent == set(), "handled inside but never sent (dead code)"
    assert documented("op") == handled


def test_every_cnn_task_sent_is_handled_and_every_task_is_sent():
    handled = _dict_keys(ISOLATION / "inside" / "worker_cnn.py", "TASKS")
    sent = cnn_tasks_sent()
    assert sent - handled == set(), "sent but not handled inside"
    assert handled - sent == set(), "handled inside but never sent (dead code)"
    assert documented("task") == handled


def test_inside_programs_import_nothing_from_the_grader():
    for source in INSIDE_COPIES:
        tree = ast.parse((ISOLATION / source).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(name.split(".")[0] in ("grader", "reference") for name in names), source


def test_verdict_code_names_no_in_sandbox_module():
    copies = {name.removesuffix(".py") for name in INSIDE_COPIES.values()}
    for path in GRADER.rglob("*.py"):
        if path.parent == ISOLATION or ISOLATION / "inside" in path.parents:
            continue
        text = path.read_text()
        assert not any(name in text for name in copies), path


def test_unknown_requests_and_requests_before_load_are_failure_replies(tmp_path):
    path = tmp_path / "solution.py"
    path.write_text("import numpy as np\nclass NN:\n    def relu(self, x, grad=False):\n"
                    "        return np.maximum(x, 0)\n")
    limits = Limits(call_timeout_s=10.0, load_timeout_s=20.0)
    fresh = Worker(path, limits, CallbackLog())
    fresh.start()
    try:
        early = fresh.request({"op": "call", "cls": "NN", "method": "relu", "args": [0.0]}, 10.0)
        assert not early.ok and early.error_message == "not loaded"
    finally:
        fresh.kill()
    session = Session(path, CallbackLog(), limits)
    try:
        assert session.call("relu", args=[np.array([-1.0, 2.0])]).ok
        worker = session.worker
        unknown = worker.request({"op": "ping"}, 10.0)
        assert not unknown.ok and "unknown op 'ping'" in unknown.error_message
        task = worker.request({"op": "cnn", "task": "nope"}, 10.0)
        assert not task.ok and "unknown cnn task 'nope'" in task.error_message
        assert worker.alive  # neither ended the worker
    finally:
        session.close()
