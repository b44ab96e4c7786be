"""Tuning jobs: rows in the metadata database and the loop that drives their searches.

A tuning job is a :class:`~cove.tuning._records.TuningJob` record (its row keeps the Describe
document, ``_rows.py``), plus one ``tuning_trials`` row per training job it launched (a
:class:`~cove.tuning._records.Trial`).  One thread (``TuningJobs._loop``)
advances every active tuning job: it reads the trials' training jobs, tells Optuna their
objectives, reports intermediate values (Hyperband, early stopping), launches new trials up to
MaxParallelTrainingJobs and rewrites the Describe counters.  It wakes when a training job
finishes and at least once a second.

The Optuna study itself is only a cache: on start (and after a restart) cove rebuilds it from
the trial rows and the training jobs' metrics, so the database stays the one record and a crash
cannot leave the two disagreeing.  Trials whose training job died with a restart count as
RetryableError and run again with the same hyperparameters.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import optuna
from optuna.trial import TrialState as OptunaState
from sqlalchemy import insert, select, update

from cove import errors
from cove.meta import Database
from cove.meta.tables import tuning_jobs, tuning_trials
from cove.sagemaker import JobStatus, RecordRows
from cove.training import TrainingJob, TrainingJobs
from cove.training import _metrics as metrics
from cove.tuning import _requests as requests
from cove.tuning._records import (
    ObjectiveStatus,
    Trial,
    TrialState,
    TuningJob,
    training_counters,
)
from cove.tuning._rows import dump, load
from cove.tuning._search import new_study, worse_than_median
from cove.tuning._space import SearchSpace

log = logging.getLogger("cove.tuning")

TERMINAL = tuple(s.value for s in JobStatus if s.is_finished())
_T = TrialState


@dataclass
class Search:
    """The in-memory side of one active tuning job: its study and the trials asked of it."""

    study: optuna.Study
    space: SearchSpace
    asked: dict[int, optuna.Trial] = field(default_factory=dict)
    reported: dict[int, int] = field(default_factory=dict)  # trial number -> steps reported
    grid: list[dict[str, Any]] | None = None  # Grid: the points not yet launched


class TuningJobs:
    def __init__(self, db: Database, training: TrainingJobs) -> None:
        self.db, self.training = db, training
        self.rows: RecordRows[TuningJob] = RecordRows(db, tuning_jobs, "tuning job", load, dump,
                                                      missing=_missing)
        self._searches: dict[str, Search] = {}
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        #: Called with a tuning job's name once it has ended (the pipeline engine listens).
        self.on_finished: list[Callable[[str], None]] = []
        training.on_finished.append(lambda _name: self._wake.set())

    # --- records ----------------------------------------------------------------------------

    def create(self, params: dict[str, Any], region: str, account: str) -> TuningJob:
        """CreateHyperParameterTuningJob: validate, record (InProgress) and start searching."""
        job = requests.new_job(params, region, account, self.training, self.get)
        self.rows.insert(job)
        self._wake.set()
        return job

    def get(self, name: str) -> TuningJob:
        return self.rows.get(name)

    def all(self) -> list[TuningJob]:
        return self.rows.all()

    def exists_arn(self, arn: str) -> bool:
        return self.rows.exists_arn(arn)

    def change(self, name: str, step: Callable[[TuningJob], TuningJob]) -> TuningJob:
        return self.rows.change(name, step)

    def trials(self, name: str) -> list[Trial]:
        with self.db.read() as conn:
            rows = conn.execute(select(tuning_trials).where(
                tuning_trials.c.tuning_job == name).order_by(tuning_trials.c.number)).all()
        return [Trial(r.number, r.training_job, dict(r.params), TrialState(r.state))
                for r in rows]

    def _set_trial(self, name: str, trial: Trial, state: TrialState) -> None:
        """The trial moves on, along its lifecycle."""
        state = trial.state.check(state, trial.training_job)
        with self.db.write() as conn:
            conn.execute(update(tuning_trials).where(
                (tuning_trials.c.tuning_job == name) & (tuning_trials.c.number == trial.number)
            ).values(state=state.value))

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self, name: str) -> None:
        self.change(name, lambda job: job.stopping())
        self._wake.set()

    def start(self) -> None:
        """Start driving tuning jobs (after a restart: resume those that were under way)."""
        self._thread = threading.Thread(target=self._loop, name="cove-tuning", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(1.0)
            self._wake.clear()
            with self.db.read() as conn:
                active = [r.name for r in conn.execute(select(tuning_jobs.c.name).where(
                    tuning_jobs.c.status.in_([s.value for s in JobStatus if s.is_running()])
                ).order_by(
                    tuning_jobs.c.creation_time))]
            for name in active:
                if self._closing:
                    return
                try:
                    self.advance(name)
                except Exception as exc:  # a bug must not stall every other tuning job
                    log.exception("tuning job %s failed inside cove", name)
                    self._searches.pop(name, None)
                    self.change(name, lambda job, e=exc: job.ended_as(  # type: ignore[misc]
                        JobStatus.FAILED, f"InternalServerError: {type(e).__name__}: {e}"))
                    self._ended(name)

    def _ended(self, name: str) -> None:
        for listener in self.on_finished:
            listener(name)

    # --- one step of one tuning job ---------------------------------------------------------

    def advance(self, name: str) -> None:
        job = self.get(name)
        search = self._searches.get(name) or self._rebuild(job)
        self._searches[name] = search
        trials = self.trials(name)
        jobs = {t.training_job: self._training(t.training_job) for t in trials}

        for trial in trials:
            if trial.state is _T.RUNNING:
                self._reconcile(job, search, trial, jobs[trial.training_job], trials)

        trials = self.trials(name)
        running = [t for t in trials if _in_progress(jobs.get(t.training_job)) or (
            t.state is _T.RUNNING)]
        metric_of = {t.number: _objective(jobs.get(t.training_job), job.metric) for t in trials
                     if t.state is _T.COMPLETE}
        stopping = job.status is JobStatus.STOPPING
        reason = "" if stopping else ending_reason(job, trials, metric_of,
                                                   _max_jobs(job, search), time.time())
        if stopping or reason:
            for t in running:
                self._stop_training(t.training_job)
            jobs = {t.training_job: self._training(t.training_job) for t in trials}
            if not any(_in_progress(jobs.get(t.training_job)) for t in trials):
                final = JobStatus.STOPPED if stopping else _final_status(
                    reason, trials, jobs, job.metric)
                self._publish(name, trials, jobs, search,
                              lambda j: j.ended_as(final, reason))
                self._searches.pop(name, None)
                self._ended(name)
                return
        else:
            self._launch(job, search, trials, running)
            trials = self.trials(name)
            jobs = {t.training_job: self._training(t.training_job) for t in trials}
        self._publish(name, trials, jobs, search, None)

    def _reconcile(self, job: TuningJob, search: Search, trial: Trial,
                   training: TrainingJob | None, trials: list[Trial]) -> None:
        asked = search.asked[trial.number]
        if training is None or training.status is JobStatus.FAILED and _retryable(training):
            search.study.tell(asked, state=OptunaState.FAIL)
            search.study.enqueue_trial(dict(trial.params))  # run the same point again
            self._set_trial(job.name, trial, _T.RETRIED)
            return
        series = [v for _t, v, _s in metrics.series(self.db, trial.training_job, job.metric)]
        for step in range(search.reported.get(trial.number, 0), len(series)):
            asked.report(series[step], step + 1)
        search.reported[trial.number] = len(series)
        if training.status.is_finished():
            self._tell(job, search, trial, training, bool(series))
        elif training.status is JobStatus.IN_PROGRESS and self._stops_early(
                job, asked, series, trials):
            log.info("tuning job %s stops %s early at step %d", job.name, trial.training_job,
                     len(series))
            self._stop_training(trial.training_job)
            search.study.tell(asked, state=OptunaState.PRUNED)
            self._set_trial(job.name, trial, _T.PRUNED)

    def _tell(self, job: TuningJob, search: Search, trial: Trial, training: TrainingJob,
              reported: bool) -> None:
        """A trial's training job ended: tell the study what it made of it."""
        asked = search.asked[trial.number]
        objective = _objective(training, job.metric)
        if training.status is JobStatus.COMPLETED and objective is not None:
            search.study.tell(asked, objective)
            self._set_trial(job.name, trial, _T.COMPLETE)
        elif training.status is JobStatus.STOPPED and reported:
            search.study.tell(asked, state=OptunaState.PRUNED)
            self._set_trial(job.name, trial, _T.PRUNED)
        else:
            search.study.tell(asked, state=OptunaState.FAIL)
            self._set_trial(job.name, trial, _T.FAILED)

    def _stops_early(self, job: TuningJob, asked: optuna.Trial, series: list[float],
                     trials: list[Trial]) -> bool:
        if job.strategy == "Hyperband":
            return bool(asked.should_prune())
        if job.config.get("TrainingJobEarlyStoppingType") != "Auto":
            return False
        previous = [[v for _t, v, _s in metrics.series(self.db, t.training_job, job.metric)]
                    for t in trials if t.state in (_T.COMPLETE, _T.PRUNED)]
        return worse_than_median(series, previous, job.minimize)

    def _launch(self, job: TuningJob, search: Search, trials: list[Trial],
                running: list[Trial]) -> None:
        """Start trials while MaxParallelTrainingJobs and the job budget allow.  Queued points
        (a retry, the next grid point) go first; otherwise the sampler proposes one."""
        budget = _max_jobs(job, search) - sum(t.state.counts() for t in trials)
        slots = int(job.limits["MaxParallelTrainingJobs"]) - len(running)
        number = max((t.number for t in trials), default=0)
        for _ in range(min(slots, budget)):
            queued = search.study.get_trials(deepcopy=False, states=(OptunaState.WAITING,))
            if not queued and search.grid is not None:
                if not search.grid:
                    return
                search.study.enqueue_trial(search.grid.pop(0))
            number += 1
            self._start_trial(job, search, number)

    def _start_trial(self, job: TuningJob, search: Search, number: int) -> None:
        asked = search.study.ask(search.space.distributions())
        params = dict(asked.params)
        job_name = f"{job.name}-{number:03d}-{secrets.token_hex(4)}"
        request = requests.training_request(job.definition, job_name,
                                            search.space.hyperparameters(params))
        region, account = _region_account(job.arn)
        with self.db.write() as conn:
            conn.execute(insert(tuning_trials).values(
                tuning_job=job.name, number=number, training_job=job_name, params=params,
                state=_T.RUNNING.value))
        search.asked[number] = asked
        try:
            self.training.create(request, region, account, job.arn)
        except errors.CoveError as exc:  # e.g. the data were deleted since the job started
            log.warning("tuning job %s could not start %s: %s", job.name, job_name, exc)
            search.study.tell(asked, state=OptunaState.FAIL)
            self._set_trial(job.name, Trial(number, job_name, params, _T.RUNNING), _T.FAILED)

    def _stop_training(self, job_name: str) -> None:
        with contextlib.suppress(errors.CoveError):  # already ending
            self.training.stop(job_name)

    def _training(self, job_name: str) -> TrainingJob | None:
        try:
            return self.training.get(job_name)
        except errors.CoveError:
            return None

    # --- the study, rebuilt from the database -----------------------------------------------

    def _rebuild(self, job: TuningJob) -> Search:
        space = SearchSpace.from_ranges(job.ranges)
        study = new_study(job.config, job.static_hyperparameters,
                          int(job.limits.get("MaxNumberOfTrainingJobs", 0) or 0))
        search = Search(study, space)
        self._seed_from_parents(job, search)
        trials = self.trials(job.name)
        for trial in trials:
            self._replay(job, search, trial)
        if job.strategy == "Grid":
            tried = [t.params for t in trials]
            search.grid = [p for p in space.grid() if p not in tried]
        for trial in trials:  # a retried trial runs again unless its rerun already exists
            if trial.state is _T.RETRIED and not any(
                    t.number > trial.number and t.params == trial.params for t in trials):
                study.enqueue_trial(dict(trial.params))
        return search

    def _seed_from_parents(self, job: TuningJob, search: Search) -> None:
        distributions = search.space.distributions()
        for parent in job.parents:
            for done in self._parent_results(parent):
                params = search.space.internal(done.hyperparameters)
                value = _objective(done, job.metric)
                if params is not None and value is not None:
                    search.study.add_trial(optuna.trial.create_trial(
                        params=params, distributions=distributions, value=value))

    def _replay(self, job: TuningJob, search: Search, trial: Trial) -> None:
        """Give the rebuilt study one trial of the database: ask again for a running one,
        add a finished one with its values."""
        study, distributions = search.study, search.space.distributions()
        if trial.state is _T.RUNNING:
            study.enqueue_trial(dict(trial.params))
            search.asked[trial.number] = study.ask(distributions)
            return
        if trial.state is _T.RETRIED:
            return
        finished = self._training(trial.training_job)
        series = [v for _t, v, _s in metrics.series(self.db, trial.training_job, job.metric)]
        state = {_T.COMPLETE: OptunaState.COMPLETE, _T.PRUNED: OptunaState.PRUNED}.get(
            trial.state, OptunaState.FAIL)
        value = _objective(finished, job.metric) if state == OptunaState.COMPLETE else None
        if state == OptunaState.COMPLETE and value is None:
            state = OptunaState.FAIL
        study.add_trial(optuna.trial.create_trial(
            state=state, value=value, params=dict(trial.params), distributions=distributions,
            intermediate_values={i + 1: v for i, v in enumerate(series)}))

    def summaries(self, job: TuningJob) -> list[dict[str, Any]]:
        """A HyperParameterTrainingJobSummary for each training job the tuning job launched."""
        tuned = SearchSpace.from_ranges(job.ranges)
        return [summary(job, t, self._training(t.training_job), tuned.names)
                for t in self.trials(job.name)]

    def _parent_results(self, parent: str) -> list[TrainingJob]:
        found = [self._training(t.training_job) for t in self.trials(parent)
                 if t.state is _T.COMPLETE]
        return [job for job in found if job is not None]

    # --- what Describe shows ----------------------------------------------------------------

    def _publish(self, name: str, trials: list[Trial], jobs: dict[str, TrainingJob | None],
                 search: Search, finish: Callable[[TuningJob], TuningJob] | None) -> None:
        def step(job: TuningJob) -> TuningJob:
            summaries = [summary(job, t, jobs.get(t.training_job), search.space.names)
                         for t in trials]
            best = best_summary(summaries, job.objective["Type"])
            job = replace(job, training_counters=MappingProxyType(status_counters(trials, jobs)),
                          objective_counters=MappingProxyType(objective_counters(summaries)),
                          best=MappingProxyType(best) if best is not None else job.best,
                          runtime_seconds=job.elapsed(time.time()))
            if job.parents:
                overall = best_summary(summaries + self._parent_summaries(job, search),
                                       job.objective["Type"])
                if overall is not None:
                    job = replace(job, overall_best=MappingProxyType(overall))
            return finish(job) if finish is not None else job
        self.change(name, step)

    def _parent_summaries(self, job: TuningJob, search: Search) -> list[dict[str, Any]]:
        return [summary(self.get(p), t, self._training(t.training_job), search.space.names)
                for p in job.parents for t in self.trials(p)]


def ending_reason(job: TuningJob, trials: list[Trial], objectives: dict[int, float | None],
                  max_jobs: int, now: float) -> str:
    """Why a tuning job should end now ("" to go on): its MaxRuntimeInSeconds, a completion
    criterion met, or every trial it may run done.  ``objectives``: completed trials' values."""
    limit = job.limits.get("MaxRuntimeInSeconds")
    if limit and now - job.created >= float(limit):
        return "MaxRuntimeInSeconds"
    done = [v for _n, v in sorted(objectives.items()) if v is not None]
    criterion = _criterion_met(job, done)
    if criterion:
        return criterion
    counted = [t for t in trials if t.state.counts()]
    if len(counted) >= max_jobs and not any(t.state is _T.RUNNING for t in trials):
        return "MaxNumberOfTrainingJobs"
    return ""


def _criterion_met(job: TuningJob, done: list[float]) -> str:
    """The TuningJobCompletionCriteria the objective values ``done`` (in order) meet."""
    minimize = job.minimize
    criteria = job.config.get("TuningJobCompletionCriteria", {})
    target = criteria.get("TargetObjectiveMetricValue")
    if target is not None and any(v <= target if minimize else v >= target for v in done):
        return "TargetObjectiveMetricValue"
    patience = criteria.get("BestObjectiveNotImproving", {}).get(
        "MaxNumberOfTrainingJobsNotImproving")
    if patience and len(done) > patience:
        best_before = (min if minimize else max)(done[:-patience])
        if not any(v < best_before if minimize else v > best_before
                   for v in done[-patience:]):
            return "BestObjectiveNotImproving"
    return ""


def _missing(name: str) -> errors.CoveError:
    return errors.ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")


# --- summaries and counters -------------------------------------------------------------------

def summary(tuning: TuningJob, trial: Trial, job: TrainingJob | None,
            tuned: list[str]) -> dict[str, Any]:
    """One HyperParameterTrainingJobSummary."""
    objective = tuning.objective
    result: dict[str, Any] = {
        "TrainingJobName": trial.training_job,
        "TrainingJobArn": job.arn if job else "",
        "TuningJobName": tuning.name,
        "CreationTime": job.created if job else tuning.created,
        "TrainingJobStatus": (job.status if job else JobStatus.FAILED).value,
        "TunedHyperParameters": {k: v for k, v in (job.hyperparameters if job else {}).items()
                                 if k in tuned},
    }
    if job is None:
        result["FailureReason"] = "The training job could not be created."
        result["ObjectiveStatus"] = ObjectiveStatus.FAILED.value
        return result
    times = {"TrainingStartTime": job.started, "TrainingEndTime": job.ended,
             "FailureReason": job.failure_reason or None}
    result.update({k: v for k, v in times.items() if v is not None})
    value = _objective(job, objective["MetricName"])
    if value is not None and job.status.is_finished():
        result["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": objective["Type"], "MetricName": objective["MetricName"], "Value": value}
    status = ObjectiveStatus.PENDING if not job.status.is_finished() else (
        ObjectiveStatus.SUCCEEDED if value is not None else ObjectiveStatus.FAILED)
    result["ObjectiveStatus"] = status.value
    return result


def status_counters(trials: list[Trial], jobs: dict[str, TrainingJob | None]
                    ) -> dict[str, int]:
    counts = training_counters()
    for t in trials:
        job = jobs.get(t.training_job)
        status = job.status if job else JobStatus.FAILED
        if t.state is _T.RETRIED:
            counts["RetryableError"] += 1
        elif not status.is_finished():
            counts[JobStatus.IN_PROGRESS.value] += 1
        elif status is JobStatus.FAILED:
            counts["NonRetryableError"] += 1
        else:
            counts[status.value] += 1
    return counts


def objective_counters(summaries: list[dict[str, Any]]) -> dict[str, int]:
    counts = {s.value: 0 for s in ObjectiveStatus}
    for s in summaries:
        counts[s["ObjectiveStatus"]] += 1
    return counts


def best_summary(summaries: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The best Completed job by objective (ties: the earlier job)."""
    done = [s for s in summaries if s["TrainingJobStatus"] == JobStatus.COMPLETED.value
            and "FinalHyperParameterTuningJobObjectiveMetric" in s]
    if not done:
        return None
    sign = 1 if kind == "Minimize" else -1
    return min(done, key=lambda s: sign * s["FinalHyperParameterTuningJobObjectiveMetric"][
        "Value"])


# --- helpers ----------------------------------------------------------------------------------

def _objective(job: TrainingJob | None, metric: str) -> float | None:
    for point in job.final_metrics if job else ():
        if point.name == metric:
            return float(point.value)
    return None


def _retryable(job: TrainingJob) -> bool:
    return job.failure_reason.startswith("InternalServerError")


def _in_progress(job: TrainingJob | None) -> bool:
    return job is not None and not job.status.is_finished()


def _max_jobs(job: TuningJob, search: Search) -> int:
    limit: int | None = job.limits.get("MaxNumberOfTrainingJobs")
    if job.strategy == "Grid":
        size = search.space.grid_size()
        return min(size, int(limit)) if limit else size
    return int(limit or 0)  # required for every other strategy (``_requests``)


def _final_status(reason: str, trials: list[Trial], jobs: dict[str, TrainingJob | None],
                  metric: str) -> JobStatus:
    if reason == "MaxRuntimeInSeconds":
        return JobStatus.STOPPED
    succeeded = any(_objective(jobs.get(t.training_job), metric) is not None for t in trials)
    return JobStatus.COMPLETED if succeeded else JobStatus.FAILED


def _region_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[3], parts[4]
