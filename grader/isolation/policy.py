"""The session's policy: which requests reach the worker, with what limits, and when a worker
is replaced. ``Session`` is what tests use; it ties the layers below together.

- Restarts: a dead worker is restarted for the next call, so that a crash or a hang costs one
  test, never the run (``_ensure_loaded``); a worker that cannot start at all is the
  environment's fault (``CouldNotGrade``), never the submission's.
- Hang policy: once the grading's allowance for calls that hang (``Limits.hang_budget_s``) or
  that wait without computing (``Limits.idle_budget_s``) is spent, later calls get short limits,
  and a call that already hung is not made again (``_send``).
- Forgetting reference answers: a worker that has received the reference's answer for a method
  is replaced before a request runs that method as the submission's own
  (``_forget_answers_unless``).
- Template adaptation: each request is rewritten for the submission's template style
  (``adapt``, from ``verdicts.styles``) before it is sent.

The process and its pipes are ``process``'s, the limits and accounts ``limits``', the evidence
about changed inputs ``evidence``'s, and the sentences about the worker ``messages``'.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from grader.isolation import messages, sandbox
from grader.isolation.evidence import InputEvidence, input_fields, sent_inputs
from grader.isolation.limits import Accounts, Limits
from grader.isolation.outcome import CallOutcome
from grader.isolation.process import CallbackHandler, Worker
from grader.isolation.warm import (PREFLIGHT_MODULE, PREFLIGHT_TEXT, WARM_ATTEMPTS, WarmSandbox,
                                   WarmUnavailable, take_prestarted)


class CouldNotGrade(RuntimeError):
    """The grader cannot run a worker here (sandbox, interpreter or its libraries): an
    environment fault, never the submission's. The message says what failed, with the
    worker's own output."""


class Session(Accounts):
    """The worker for one graded submission, restarted after a crash or a timeout; its accounts
    and budgets are ``limits.Accounts``'."""

    def __init__(self, submission: Path, callbacks: CallbackHandler, limits: Limits | None = None,
                 mode: sandbox.Mode | None = None, warm: bool | None = None):
        super().__init__(limits or Limits())   # the accounts and budgets (``limits.Accounts``)
        self.submission = Path(submission)
        self.callbacks = callbacks
        self.mode = mode or sandbox.choose_mode()
        self.worker: Worker | None = None
        self.load_failure: CallOutcome | None = None
        self.restarts = 0              # after a crash or a timeout
        self._network_runner = None     # grader.networks.metered.Runner, started on first use
        self._ahead: dict = {}         # (part, task) -> grader.networks.ahead.AheadRun
        self._runner_lock = threading.Lock()
        self._ahead_runs = None         # grader.networks.ahead.AheadRuns, made on first use
        self.ahead_lanes = 1
        """Metered children that run the runs started ahead side by side (``networks/ahead.py``)."""
        self.isolation_restarts = 0    # before a call that must not see earlier reference answers
        self.load_warning = ""
        """Set when importing the submission raised and its definitions were graded instead."""
        self.adapt: Callable[[dict], dict] = lambda message: message
        """Rewrites each request for the submission's template style (``verdicts.styles``)."""
        if warm is None:
            warm = os.environ.get("NNGRADE_WARM_WORKER", "1") != "0"
        self._warm_allowed = warm
        self.warm: WarmSandbox | None = None
        self.warm_failures: list[str] = []
        """Why each warm sandbox of this grading was given up (cold workers then stand in)."""
        self.cold_starts = 0
        """Workers started cold (a sandbox and an interpreter of their own)."""
        self.forked_starts = 0
        """Workers forked by a warm sandbox's zygote."""
        self.preloads: tuple[str, ...] = ()
        """What a warm sandbox this session starts imports before its first fork
        (``warm.preloads_for`` the grading's parts)."""

    def _warm_sandbox(self) -> WarmSandbox | None:
        """The submission's warm sandbox (``warm.py``), started on first use; None in the modes
        without one, and once two have failed in this grading (cold workers then serve)."""
        if self.warm is not None and self.warm.directory is None:   # closed: its reset failed
            self._give_up_warm(self.warm.closed_because or "the warm sandbox was closed")
        if not self._warm_allowed or self.mode.name != "bubblewrap" \
                or len(self.warm_failures) >= WARM_ATTEMPTS:
            return None
        if self.warm is None:
            self.warm = take_prestarted(self.submission, self.limits, self.mode)
        if self.warm is None:
            warm = WarmSandbox(self.submission, self.limits, self.mode, self.preloads)
            try:
                warm.start()
            except (OSError, RuntimeError, subprocess.SubprocessError, WarmUnavailable) as error:
                warm.close()
                self.warm_failures.append(f"{type(error).__name__}: {error}")
                return None
            self.warm = warm
        return self.warm

    def preload(self, modules) -> None:
        """Have the warm sandbox's zygote import ``modules`` in its idle time (``WarmSandbox.
        preload``): the workers the grading forks later need them. Nothing in the other modes."""
        warm = self._warm_sandbox()
        if warm is not None:
            warm.preload(modules)

    def _give_up_warm(self, why: str) -> None:
        if self.warm is not None:
            self.warm.close()
            self.warm = None
        self.warm_failures.append(why)

    def _start_worker(self, submission: Path, submission_name: str = "solution.py") -> Worker:
        """A started worker for ``submission``: forked by the warm sandbox when it can, else
        cold. Raises ``CouldNotGrade`` when not even a cold one can start."""
        warm = self._warm_sandbox()
        if warm is not None:
            worker = Worker(submission, self.limits, self.callbacks, self.mode)
            try:
                worker.start(warm, submission_name)
                self.forked_starts += 1
                return worker
            except (OSError, WarmUnavailable) as error:
                self._give_up_warm(f"{type(error).__name__}: {error}")
        worker = Worker(submission, self.limits, self.callbacks, self.mode)
        self.cold_starts += 1
        try:
            worker.start()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            worker.kill()
            raise CouldNotGrade(messages.could_not_launch(self.mode.name, error)) from None
        return worker

    def _load(self, worker: Worker, **kwargs) -> CallOutcome:
        return worker.request({"op": "load"}, self.limits.load_timeout_s, **kwargs)

    def _ensure_loaded(self) -> CallOutcome | None:
        """Start and load a worker if none is alive; return the failure if the submission cannot load."""
        if self.load_failure is not None:
            return self.load_failure
        if self.worker is not None and self.worker.alive:
            return None
        if self.worker is not None:
            self.worker.kill()
            self.restarts += 1
        if not self.submission.is_file():
            self.load_failure = CallOutcome(ok=False, error_type="FileNotFoundError",
                                            error_message=f"no submission at {self.submission}")
            return self.load_failure
        idle = (self._idle_limit()[0] or self.limits.idle_after_budget_s) \
            + self.limits.load_free_idle_s
        self.worker = self._start_worker(self.submission)
        outcome = self._load(self.worker, idle_s=idle)
        if not outcome.ok and not self.worker.ready and self.worker.forked:
            # A forked worker that never started says nothing of the submission: the zygote may
            # have been stopped by an earlier worker. A cold worker decides.
            self.worker.kill()
            self._give_up_warm(messages.could_not_start(self.mode.name, outcome))
            self.worker = self._start_worker(self.submission)
            outcome = self._load(self.worker, idle_s=idle)
        self._charge(outcome, ("load", None, None, ()), free_s=self.limits.load_free_cpu_s,
                     free_idle_s=self.limits.load_free_idle_s)
        if not outcome.ok:
            started = self.worker.ready
            self.worker.kill()
            if not started:
                # Nothing of the submission ran (it runs only after the worker program's ready
                # line): the environment failed, e.g. bwrap refused a later worker or the
                # interpreter hung starting, which must never be scored as the student's fault.
                raise CouldNotGrade(messages.could_not_start(self.mode.name, outcome))
            self.load_failure = outcome
            return outcome
        self.load_warning = messages.describe_fallback(outcome.value)
        return None

    def preflight(self) -> None:
        """Start a worker exactly as grading will, with a trivial module in place of the
        submission, and exchange one message (``load``). Raises CouldNotGrade, saying what
        failed with the worker's own output, if that does not work."""
        warm = self._warm_sandbox()
        if warm is not None:
            # The warm sandbox is the grading's: its worker loads the module of its folder that
            # stands in for the submission. Any failure of it leaves the check to a cold worker.
            worker = Worker(self.submission, self.limits, self.callbacks, self.mode)
            try:
                worker.start(warm, PREFLIGHT_MODULE)
                self.forked_starts += 1
                outcome = self._load(worker)
            except (OSError, WarmUnavailable) as error:
                outcome = CallOutcome(ok=False, crashed=f"{type(error).__name__}: {error}")
            finally:
                worker.kill()
            if outcome.ok:
                return
            self._give_up_warm(messages.could_not_start(self.mode.name, outcome))
        with tempfile.TemporaryDirectory(prefix="nngrade-preflight-") as folder:
            trivial = Path(folder) / "solution.py"
            trivial.write_text(PREFLIGHT_TEXT)
            worker = Worker(trivial, self.limits, self.callbacks, self.mode)
            self.cold_starts += 1
            try:
                worker.start()
                outcome = self._load(worker)
            except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                raise CouldNotGrade(messages.could_not_launch(self.mode.name, error)) from None
            finally:
                worker.kill()
        if not outcome.ok:
            raise CouldNotGrade(messages.could_not_start(self.mode.name, outcome))

    def _forget_answers_unless(self, substituted: set) -> None:
        """Replace the worker if it has received reference answers for a method that the next
        request runs as the submission's own: it could have kept them; a fresh process has not."""
        if self.worker is not None and not self.worker.served <= substituted:
            self.worker.kill()
            self.worker = None
            self.isolation_restarts += 1

    def _send(self, message: dict, substituted: set, timeout_s: float | None,
              inputs: InputEvidence | None = None) -> CallOutcome:
        """Send one request to a loaded worker that holds no reference answers for the methods
        the request runs as the submission's own (``substituted`` are the ones it replaces).
        ``inputs``: the digests of the arrays the request hands to the submission, to which the
        worker's report of them after the call is added."""
        message = self.adapt(message)
        if inputs is not None:
            # Digests of what is actually sent: a style adapter may have rewritten the arrays
            # (integer labels for the original templates), and those are what the worker sees.
            inputs.sent = sent_inputs(input_fields(message))
        substituted = substituted | set(message.get("substitute") or ())
        self._forget_answers_unless(substituted)
        failure = self._ensure_loaded()
        if failure is not None:
            return failure
        timeout = timeout_s or self.limits.call_timeout_s
        left = self.budget_left()
        if left <= 0:
            return CallOutcome(ok=False, timed_out=True, budget_out=True, timeout_s=0.0,
                               shortened=f"not called: {self.budget_spent()}")
        by_budget = left < timeout
        timeout = min(timeout, left)
        # A call that hung is not made again once the allowance is spent; one that replaces
        # other methods by the reference is another call (the hang may be in what it replaces).
        what = (message.get("op"), message.get("cls"), message.get("method") or message.get("task"),
                tuple(sorted(map(str, message.get("substitute") or ()))))
        chosen = self._hang_policy(what, timeout)
        if isinstance(chosen, CallOutcome):
            return chosen
        timeout, idle, shortened = chosen
        outcome = self.worker.request(message, timeout, idle)
        if outcome.timed_out and by_budget and not outcome.idle_out:
            outcome.budget_out = True   # not a hang: the call would have had more time
        self._charge(outcome, what)
        if outcome.timed_out:
            if outcome.budget_out:
                shortened = [f"it was stopped when {self.budget_spent()}"]
            outcome.shortened = "; ".join(shortened)
        if inputs is not None and outcome.ok:
            reported = outcome.inputs or InputEvidence()
            inputs.after, inputs.parameters = reported.after, reported.parameters
            outcome.inputs = inputs
        else:
            outcome.inputs = None
        return outcome

    def _hang_policy(self, what: tuple, timeout: float) -> CallOutcome | tuple[float, float, list]:
        """The CPU and idle limits of the next call ``what`` (``(op, class, method, substitutes)``)
        under the grading's allowances for calls that hang and calls that wait, and why they are
        shorter than usual (``CallOutcome.shortened``'s parts); or, for a call that already hung
        or waited once its allowance is spent, the outcome of not making it again."""
        shortened = []
        if self.hung_s >= self.limits.hang_budget_s:
            spent = (f"{self.hangs} calls of this submission did not finish, using up its "
                     f"{self.limits.hang_budget_s:g} CPU s allowance for calls that hang; look "
                     "for an infinite loop")
            if what in self.hung_calls:
                # Calling it again would only hang again: one hanging submission must not hold
                # up a batch for an hour.
                return CallOutcome(ok=False, timed_out=True, timeout_s=0.0, shortened=(
                    f"not called again: it did not finish in an earlier test, and {spent}"))
            timeout = min(timeout, self.limits.call_timeout_after_hangs_s)
            shortened.append(f"a shorter limit: {spent}")
        idle, spent = self._idle_limit()
        if not spent and idle < self.limits.call_idle_s:
            shortened.append("a shorter limit: earlier calls of this submission waited without "
                             f"computing for most of its {self.limits.idle_budget_s:g} s allowance")
        if spent:
            if what in self.waited_calls:
                return CallOutcome(ok=False, timed_out=True, idle_out=True, timeout_s=0.0,
                                   shortened=f"not called again: it waited without computing "
                                             f"in an earlier test, and {spent}")
            idle = self.limits.idle_after_budget_s
            shortened.append(f"a shorter limit: {spent}")
        return timeout, idle, shortened

    def run_network_task(self, task: str, limit_s: float | None = None, **kwargs):
        """Run one of the grader's own computations on what the student described
        (``grader.networks.metered.TASKS``: a rebuilt network's training or evaluation) in the
        grader's metered child process, under what is left of the part's budget, and charge its
        CPU time to the part. ``limit_s``: a smaller limit of this run alone (one study of the
        experiments, so that one costly network does not take the other studies' share).
        Raises ``metered.BudgetSpent`` (with the budget's sentence, or the run's limit) when the
        run uses the rest of the budget or its limit, ``metered.ChildFailed`` when it fails.

        When the same run of the current part was started ahead (``start_network_task``), its
        result is taken instead, with the same verdict as a run started now: its CPU time is
        charged to the part, and a run that used more than what is left now is a spent budget."""
        from grader.networks import metered

        left = self.budget_left()
        if left <= 0:
            raise metered.BudgetSpent(0.0, self.budget_spent())
        allowed = left if limit_s is None else min(left, limit_s)
        ahead = self._ahead.pop((self.part, task), None)
        if ahead is not None and ahead.matches(kwargs):
            value, error, cpu_used = ahead.result()
            # Charged as a run started now: one that passes ``allowed`` would have been stopped
            # there (the run ahead may have gone on, to what the part had left when it started).
            self._spend(min(cpu_used, allowed))
            if cpu_used <= allowed and error is None:
                return value
            if cpu_used <= allowed and not isinstance(error, metered.BudgetSpent):
                raise error
        else:
            if ahead is not None:
                self._ahead_runs.cancel(ahead)
            runner = self.network_runner()
            with self._runner_lock:    # a run started ahead may hold the child: wait for it
                try:
                    return runner.run(task, allowed, **kwargs)
                except metered.BudgetSpent:
                    pass
                finally:
                    self._spend(runner.cpu_used)
        if allowed < left:
            raise metered.BudgetSpent(allowed, f"the run used its whole limit of {allowed:g} CPU s")
        raise metered.BudgetSpent(left, self.budget_spent())

    def start_network_task(self, part: str, task: str, **kwargs) -> None:
        """Start ``run_network_task(task, **kwargs)`` of ``part`` now, while the grading goes on
        (the CNN parts' trainings overlap the numpy parts on the other core;
        ``grader/networks/ahead.py``). The part's test takes its result with
        ``run_network_task``; it runs under what is left of the part's budget now, and is
        charged when taken. Runs started ahead run on ``ahead_lanes`` lanes, each one after the
        other in the order started."""
        from grader.networks.ahead import AheadRuns

        previous = self._ahead.pop((part, task), None)
        if previous is not None:
            self._ahead_runs.cancel(previous)
        if self._ahead_runs is None:
            from grader.networks import metered

            lanes = [(self.network_runner(), self._runner_lock, False)]
            lanes += [(metered.Runner(), threading.Lock(), True)
                      for _ in range(self.ahead_lanes - 1)]
            self._ahead_runs = AheadRuns(lanes)
        self._ahead[(part, task)] = self._ahead_runs.start(task, kwargs, self.budget_left_for(part))

    def network_runner(self):
        """The grader's metered child of this grading (``grader.networks.metered.Runner``, whose
        process starts on its first run); one run at a time holds ``_runner_lock``."""
        from grader.networks import metered

        if self._network_runner is None:
            self._network_runner = metered.Runner()
        return self._network_runner

    def call(self, method: str, *, args=(), kwargs=None, config=None, state=None,
             substitute=(), return_state=(), return_args=False, cls: str = "NN",
             timeout_s: float | None = None, check_inputs: bool = True) -> CallOutcome:
        """Build ``cls(**config)`` in the worker, set ``state``, replace ``substitute`` by reference
        proxies and call ``method(*args, **kwargs)`` there (``"__init__"``: build it only).
        ``check_inputs=False``: the test judges itself whether the arrays in ``args`` changed
        (``grade.require`` then does not; see ``grader.verdicts.inputs``)."""
        message = {
            "op": "call", "cls": cls, "method": method, "args": list(args), "kwargs": kwargs or {},
            "config": config or {}, "state": state or {}, "substitute": list(substitute),
            "return_state": list(return_state), "return_args": return_args,
        }
        inputs = None
        if method != "__init__":
            inputs = InputEvidence(op="call", method=method, checked=check_inputs)
        return self._send(message, set(substitute), timeout_s, inputs)

    def call_sequence(self, method: str, sequence: list, *, cls: str, config=None, state=None,
                      kwargs=None, record_state=(), timeout_s: float | None = None,
                      check_inputs: bool = True) -> CallOutcome:
        """Call ``method`` on one ``cls(**config)`` once per step of ``sequence`` (steps of
        ``{"args": [...], "then": {"method", "args"}}``, see PROTOCOL.md); no method is replaced."""
        message = {"op": "call_sequence", "cls": cls, "method": method, "config": config or {},
                   "state": state or {}, "kwargs": kwargs or {}, "sequence": list(sequence),
                   "record_state": list(record_state)}
        then_methods = {index: str(step["then"].get("method"))
                        for index, step in enumerate(message["sequence"])
                        if isinstance(step, dict) and isinstance(step.get("then"), dict)}
        inputs = InputEvidence(op="call_sequence", method=method, then_methods=then_methods,
                               checked=check_inputs)
        return self._send(message, set(), timeout_s, inputs)

    def optimizer_steps(self, cls: str, config: dict, carry, sequence: list, *,
                        method: str = "step", timeout_s: float | None = None,
                        check_inputs: bool = True) -> CallOutcome:
        """Call ``method(carry, *step_args)`` on one ``cls(**config)`` for each ``step_args`` of
        ``sequence``; the value is ``carry`` after every step (an optimizer's parameters).
        ``carry`` is meant to change; the arrays of ``sequence`` (the gradients) are not."""
        message = {"op": "optimizer_steps", "cls": cls, "method": method, "config": config,
                   "carry": carry, "sequence": [list(step) for step in sequence]}
        inputs = InputEvidence(op="optimizer_steps", method=method, checked=check_inputs)
        return self._send(message, set(), timeout_s, inputs)

    def cnn(self, task: str, timeout_s: float | None = None, **fields) -> CallOutcome:
        """Run one CNN task of ``inside/worker_cnn`` (capture, capture_layer, kaggle)."""
        return self._send({"op": "cnn", "task": task, **fields}, set(), timeout_s)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None
        if self.warm is not None:
            self.warm.close()
            self.warm = None
        if self._ahead_runs is not None:
            self._ahead_runs.close()
            self._ahead_runs = None
        self._ahead.clear()
        if self._network_runner is not None:
            self._network_runner.close()
            self._network_runner = None

    def record(self) -> dict:
        """What the results say about the confinement: mode, warning and resource limits."""
        private_uid = os.geteuid() == 0 and self.mode.name != "rlimits-only"
        return {"mode": self.mode.name, "warning": self.mode.warning,
                "limits": self.limits.as_record(),
                "rlimits": self.limits.rlimits(private_uid=private_uid),
                "private_user_id": private_uid,
                "workers": {"forked": self.forked_starts, "cold": self.cold_starts,
                            "warm_given_up": list(self.warm_failures)},
                "spent": {"cpu_s": round(self.cpu_s, 2), "idle_s": round(self.idle_s, 2),
                          "cpu_s_by_part": {k: round(v, 2) for k, v in self.spent_by_part.items()},
                          "calls_over_cpu": self.hangs, "calls_over_idle": self.waits}}
