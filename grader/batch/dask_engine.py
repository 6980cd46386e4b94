"""The batch on Dask distributed: the same ``engine.grade_bytes`` tasks, on a cluster.

The client (the TA's machine) owns OUTDIR: tasks carry the submission's bytes in and bring the
grader's results back as JSON, so worker machines need only nngrade installed and share no disk.
Each of Dask's known traps is handled here, not left to luck:

- ``client.submit`` would merge identical calls (two students with the same file, or a
  re-submitted task): every task gets an explicit key, unique to this run.
- A worker that dies takes the results it held with it and Dask recomputes them: each future is
  released as soon as its result is saved.
- A client that disconnects cancels its queued work: resuming comes from OUTDIR (``run``), never
  from the scheduler.
- A restarted worker would leave its grading process running as an orphan: the grading process
  is started with a parent-death signal (``isolation.lifeline``) and dies with its worker.
- Each worker thread keeps one grading server (``engine.GradingServer``) from task to task, so
  that a task does not pay a grading process's start; at the end of the batch the client asks
  every worker to end its servers (``engine.close_servers``), and a server left idle (a client
  that vanished) exits on its own after ``grading_process.IDLE_EXIT_S``.
- Dask has no per-task timeout: the grading's own cap (``cap_s``) is the limit.
- Threads: workers run one task at a time (``--nthreads 1``); each grading is single-threaded
  anyway (``engine.SINGLE_THREAD``), whatever the nanny sets.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from grader.batch import engine
from grader.batch.records import NOT_GRADED


def run_dask(jobs: list[engine.Job], *, workers: int, cap_s: float, scheduler: str | None,
             on_done: Callable[[engine.Job, dict], None]) -> None:
    """Grade ``jobs`` on the Dask scheduler at ``scheduler`` (``tcp://host:port``) or, when it
    is None, on a ``LocalCluster`` of ``workers`` single-threaded worker processes started here.
    ``on_done(job, outcome)`` runs in this thread as each result arrives."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as error:
        raise SystemExit("nngrade batch --engine dask needs Dask distributed: "
                         f"pip install 'nngrade[dask]' ({error})") from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    run = uuid.uuid4().hex[:8]
    try:
        futures = {}
        for number, job in enumerate(jobs):
            future = client.submit(engine.grade_bytes, job.data, parts=job.parts, cap_s=cap_s,
                                   key=f"nngrade-{run}-{number}-{job.key[:16]}", pure=False)
            futures[future] = job
        try:
            for future in as_completed(list(futures)):
                job = futures.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # noqa: BLE001 - a worker died, the task was lost
                    outcome = engine.Outcome(
                        NOT_GRADED, f"the Dask task failed: {type(error).__name__}: {error}; a "
                        "re-run grades it", None, 0.0).to_json()
                on_done(job, outcome)
                future.release()
        except BaseException:
            client.cancel(list(futures))
            raise
        try:   # each worker thread's grading server (engine.close_servers): the batch is over
            client.run(engine.close_servers)
        except Exception:  # noqa: BLE001 - a worker gone: its servers went with it
            pass
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
