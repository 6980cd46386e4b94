"""The trusted side of the process boundary: the sandbox, the worker process and the wire format.

``sandbox`` chooses how the worker is confined and builds its command line; ``worker`` starts the
process, sends requests and serves its callbacks (``Session`` is what tests use); ``wire`` is the
plain-data format both sides speak. ``inside/`` holds the programs that run in the sandbox, next
to the student's code: they import nothing from ``grader``. ``PROTOCOL.md`` lists every message.

The worker's private folder holds copies of those programs under the names below. They are the
only place the in-sandbox module names are spelled on the trusted side.
"""
from __future__ import annotations

INSIDE_COPIES = {
    "wire.py": "_nngrade_wire.py",
    "inside/worker_main.py": "_nngrade_worker.py",
    "inside/worker_cnn.py": "_nngrade_cnn.py",
    "inside/worker_graph.py": "_nngrade_graph.py",
}
"""``{source file under grader/isolation: name of its copy in the worker's private folder}``."""

WORKER_PROGRAM = INSIDE_COPIES["inside/worker_main.py"]
"""The file the sandbox's boot code runs."""
