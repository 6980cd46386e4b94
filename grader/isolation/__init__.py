"""The trusted side of the process boundary: the sandbox, the worker process and the wire format.

``sandbox`` chooses how the worker is confined and builds its command line; ``process`` starts the
process, sends requests and serves its callbacks (``output_sink`` drains its output); ``limits``
meters what a request spends and keeps the budgets; ``evidence`` records the arrays a call was
given; ``outcome`` is what a request produced; ``policy`` decides which requests are made, with
what limits (``Session`` is what tests use); ``messages`` words it all for people; ``worker``
names the public ones in one place; ``warm`` keeps one sandbox per submission whose zygote forks
its workers. ``wire`` is the plain-data format both sides speak.
``inside/`` holds the programs that run in the sandbox, next to the student's code: they import
nothing from ``grader``. ``PROTOCOL.md`` lists every message.

The worker's private folder holds copies of those programs under the names below. They are the
only place the in-sandbox module names are spelled on the trusted side.
"""
from __future__ import annotations

INSIDE_COPIES = {
    "wire.py": "_nngrade_wire.py",
    "inside/worker_main.py": "_nngrade_worker.py",
    "inside/worker_cnn.py": "_nngrade_cnn.py",
    "inside/worker_graph.py": "_nngrade_graph.py",
    "inside/zygote.py": "_nngrade_zygote.py",
}
"""``{source file under grader/isolation: name of its copy in the worker's private folder}``."""

WORKER_PROGRAM = INSIDE_COPIES["inside/worker_main.py"]
"""The file the sandbox's boot code runs for a cold worker, and a forked worker runs."""
ZYGOTE_PROGRAM = INSIDE_COPIES["inside/zygote.py"]
"""The file the boot code runs in a warm sandbox (``warm.py``): it forks the workers."""
PROGRAMS = (WORKER_PROGRAM, ZYGOTE_PROGRAM)
"""The copies that are programs, not modules: importing one runs it (it reads its file
descriptors from ``sys.argv``)."""
