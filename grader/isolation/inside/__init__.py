"""Programs that run inside the sandbox, beside the student's code (copied there; never imported
by the grader). They import nothing from ``grader``: see ``grader/isolation/PROTOCOL.md``."""
