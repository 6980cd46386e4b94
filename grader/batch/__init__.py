"""Batch grading for TAs: a class's submissions in; a gradebook, feedback and a class report out.

``python -m grader batch SUBMISSIONS --out OUTDIR`` grades every student with the same isolated
grading core as ``python -m grader grade`` (one fresh grading process per submission, each with
its own sandboxed worker), on this machine or on a Dask cluster. The modules, by role:

- ``layouts``: find the students and their files in a folder, a zip, nbgrader's ``submitted/``
  or a Gradescope export (``Roster`` of ``Submission``);
- ``records``: what the batch keeps of one student (``StudentRecord``), the statuses, and the
  results.json written for a submission that could not be graded as code;
- ``engine``: grade one submission (a subprocess with a wall-clock cap) and run many, locally;
- ``dask_engine``: the same tasks on Dask distributed;
- ``gradebook``: ``grades.csv``;
- ``feedback``: each student's ``feedback/<student>.md`` and ``.html``;
- ``summary``: the class report ``summary.html``, with the class's common mistakes.
"""
