"""Tuning jobs: rows in the metadata database and the loop that drives their searches.

A tuning job is a row whose ``describe`` column is what DescribeHyperParameterTuningJob returns,
plus one ``tuning_trials`` row per training job it launched.  One thread (``TuningJobs._loop``)
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
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import insert, select, update

from cove import errors
from cove.meta import Database
from cove.meta.tables import tuning_jobs, tuning_trials
from cove.sagemaker import DescribedRows, JobStatus
from cove.training import TrainingJob, TrainingJobs
from cove.training import _metrics as metrics
from cove.tuning._search import new_study, worse_than_median
from cove.tuning._space import SearchSpace

log = logging.getLogger("cove.tuning")

TERMINAL = tuple(s.value for s in JobStatus if s.is_finished())
KIND = "hyperparameter tuning job"
#: Keys of a TrainingJobDefinition that describe the tuning, not the training job.
DEFINITION_ONLY = ("DefinitionName", "TuningObjective", "HyperParameterRanges",
                   "StaticHyperParameters", "HyperParameterTuningResourceConfig")

@dataclass
class Trial:
    number: int
    training_job: str
    params: dict[str, Any]
    state: str  # running | complete | pruned | failed | retried


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
        self.rows = DescribedRows(db, tuning_jobs, "tuning job", "HyperParameterTuningJob",
                                  missing=_missing)
        self._searches: dict[str, Search] = {}
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        training.on_finished.append(lambda _name: self._wake.set())

    # --- rows -------------------------------------------------------------------------------

    def insert(self, describe: dict[str, Any]) -> None:
        self.rows.insert(describe)
        self._wake.set()

    def describe(self, name: str) -> dict[str, Any]:
        return self.rows.get(name)

    def all(self) -> list[dict[str, Any]]:
        return self.rows.all()

    def exists_arn(self, arn: str) -> bool:
        return self.rows.exists_arn(arn)

    def change(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        return self.rows.change(name, mutate)

    def trials(self, name: str) -> list[Trial]:
        with self.db.read() as conn:
            rows = conn.execute(select(tuning_trials).where(
                tuning_trials.c.tuning_job == name).order_by(tuning_trials.c.number)).all()
        return [Trial(r.number, r.training_job, dict(r.params), r.state) for r in rows]

    def _set_trial(self, name: str, number: int, state: str) -> None:
        with self.db.write() as conn:
            conn.execute(update(tuning_trials).where(
                (tuning_trials.c.tuning_job == name) & (tuning_trials.c.number == number)
            ).values(state=state))

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self, name: str) -> None:
        def mutate(d: dict[str, Any]) -> None:
            if _status(d) is not JobStatus.IN_PROGRESS:
                raise errors.ValidationError(
                    f"The hyperparameter tuning job {name!r} is {_status(d).value}; only an "
                    f"{JobStatus.IN_PROGRESS.value} job can be stopped.")
            _move(d, JobStatus.STOPPING)
        self.change(name, mutate)
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
                    self.change(name, lambda d, e=exc: _end(  # type: ignore[misc]
                        d, JobStatus.FAILED, f"InternalServerError: {type(e).__name__}: {e}"))

    # --- one step of one tuning job ---------------------------------------------------------

    def advance(self, name: str) -> None:
        d = self.describe(name)
        search = self._searches.get(name) or self._rebuild(d)
        self._searches[name] = search
        config = d["HyperParameterTuningJobConfig"]
        minimize = config["HyperParameterTuningJobObjective"]["Type"] == "Minimize"
        metric = config["HyperParameterTuningJobObjective"]["MetricName"]
        trials = self.trials(name)
        jobs = {t.training_job: self._training(t.training_job) for t in trials}

        for trial in trials:
            if trial.state == "running":
                self._reconcile(name, d, search, trial, jobs[trial.training_job], metric,
                                minimize, trials)

        status = _status(d)
        trials = self.trials(name)
        running = [t for t in trials if _in_progress(jobs.get(t.training_job)) or (
            t.state == "running")]
        metric_of = {t.number: _objective(jobs.get(t.training_job), metric) for t in trials
                     if t.state == "complete"}
        reason = "" if status is JobStatus.STOPPING else ending_reason(
            d, trials, metric_of, _max_jobs(d["HyperParameterTuningJobConfig"], search),
            time.time())
        if status is JobStatus.STOPPING or reason:
            for t in running:
                self._stop_training(t.training_job)
            jobs = {t.training_job: self._training(t.training_job) for t in trials}
            if not any(_in_progress(jobs.get(t.training_job)) for t in trials):
                final = JobStatus.STOPPED if status is JobStatus.STOPPING else _final_status(
                    reason, trials, jobs, metric)
                self._publish(name, trials, jobs, search, lambda d: _end(d, final, reason))
                self._searches.pop(name, None)
                return
        else:
            self._launch(d, search, trials, running)
            trials = self.trials(name)
            jobs = {t.training_job: self._training(t.training_job) for t in trials}
        self._publish(name, trials, jobs, search, None)

    def _reconcile(self, name: str, d: dict[str, Any], search: Search, trial: Trial,
                   job: TrainingJob | None, metric: str, minimize: bool,
                   trials: list[Trial]) -> None:
        asked = search.asked[trial.number]
        if job is None or job.status is JobStatus.FAILED and _retryable(job):
            search.study.tell(asked, state=TrialState.FAIL)
            search.study.enqueue_trial(trial.params)  # run the same point again
            self._set_trial(name, trial.number, "retried")
            return
        series = [v for _t, v, _s in metrics.series(self.db, trial.training_job, metric)]
        for step in range(search.reported.get(trial.number, 0), len(series)):
            asked.report(series[step], step + 1)
        search.reported[trial.number] = len(series)
        status = job.status
        if status.is_finished():
            objective = _objective(job, metric)
            if status is JobStatus.COMPLETED and objective is not None:
                search.study.tell(asked, objective)
                self._set_trial(name, trial.number, "complete")
            elif status is JobStatus.STOPPED and series:
                search.study.tell(asked, state=TrialState.PRUNED)
                self._set_trial(name, trial.number, "pruned")
            else:
                search.study.tell(asked, state=TrialState.FAIL)
                self._set_trial(name, trial.number, "failed")
            return
        if status is not JobStatus.IN_PROGRESS:
            return
        config = d["HyperParameterTuningJobConfig"]
        stop = False
        if config["Strategy"] == "Hyperband":
            stop = asked.should_prune()
        elif config.get("TrainingJobEarlyStoppingType") == "Auto":
            previous = [[v for _t, v, _s in metrics.series(self.db, t.training_job, metric)]
                        for t in trials if t.state in ("complete", "pruned")]
            stop = worse_than_median(series, previous, minimize)
        if stop:
            log.info("tuning job %s stops %s early at step %d", name, trial.training_job,
                     len(series))
            self._stop_training(trial.training_job)
            search.study.tell(asked, state=TrialState.PRUNED)
            self._set_trial(name, trial.number, "pruned")

    def _launch(self, d: dict[str, Any], search: Search, trials: list[Trial],
                running: list[Trial]) -> None:
        """Start trials while MaxParallelTrainingJobs and the job budget allow.  Queued points
        (a retry, the next grid point) go first; otherwise the sampler proposes one."""
        config = d["HyperParameterTuningJobConfig"]
        budget = _max_jobs(config, search) - sum(t.state != "retried" for t in trials)
        slots = int(config["ResourceLimits"]["MaxParallelTrainingJobs"]) - len(running)
        number = max((t.number for t in trials), default=0)
        for _ in range(min(slots, budget)):
            queued = search.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if not queued and search.grid is not None:
                if not search.grid:
                    return
                search.study.enqueue_trial(search.grid.pop(0))
            number += 1
            self._start_trial(d, search, number)

    def _start_trial(self, d: dict[str, Any], search: Search, number: int) -> None:
        name = d["HyperParameterTuningJobName"]
        asked = search.study.ask(search.space.distributions())
        params = dict(asked.params)
        job_name = f"{name}-{number:03d}-{secrets.token_hex(4)}"
        definition = d["TrainingJobDefinition"]
        request = {k: v for k, v in definition.items() if k not in DEFINITION_ONLY}
        request["TrainingJobName"] = job_name
        request["HyperParameters"] = {**definition.get("StaticHyperParameters", {}),
                                      **search.space.hyperparameters(params)}
        if "ResourceConfig" not in request:
            request["ResourceConfig"] = resource_config(definition)
        region, account = _region_account(d["HyperParameterTuningJobArn"])
        with self.db.write() as conn:
            conn.execute(insert(tuning_trials).values(
                tuning_job=name, number=number, training_job=job_name, params=params,
                state="running"))
        search.asked[number] = asked
        try:
            self.training.create(request, region, account, d["HyperParameterTuningJobArn"])
        except errors.CoveError as exc:  # e.g. the data were deleted since the job started
            log.warning("tuning job %s could not start %s: %s", name, job_name, exc)
            search.study.tell(asked, state=TrialState.FAIL)
            self._set_trial(name, number, "failed")

    def _stop_training(self, job_name: str) -> None:
        with contextlib.suppress(errors.CoveError):  # already ending
            self.training.stop(job_name)

    def _training(self, job_name: str) -> TrainingJob | None:
        try:
            return self.training.get(job_name)
        except errors.CoveError:
            return None

    # --- the study, rebuilt from the database -----------------------------------------------

    def _rebuild(self, d: dict[str, Any]) -> Search:
        config = d["HyperParameterTuningJobConfig"]
        definition = d["TrainingJobDefinition"]
        space = SearchSpace.from_ranges(config["ParameterRanges"])
        study = new_study(config, definition.get("StaticHyperParameters", {}),
                          int(config["ResourceLimits"].get("MaxNumberOfTrainingJobs", 0) or 0))
        search = Search(study, space)
        metric = config["HyperParameterTuningJobObjective"]["MetricName"]
        distributions = space.distributions()
        for parent in d.get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", []):
            for job in self._parent_results(parent["HyperParameterTuningJobName"], metric):
                params = space.internal(job.hyperparameters)
                value = _objective(job, metric)
                if params is not None and value is not None:
                    study.add_trial(optuna.trial.create_trial(
                        params=params, distributions=distributions, value=value))
        trials = self.trials(d["HyperParameterTuningJobName"])
        for trial in trials:
            if trial.state == "running":
                study.enqueue_trial(trial.params)
                search.asked[trial.number] = study.ask(distributions)
                continue
            if trial.state == "retried":
                continue
            finished = self._training(trial.training_job)
            series = [v for _t, v, _s in metrics.series(self.db, trial.training_job, metric)]
            state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(
                trial.state, TrialState.FAIL)
            value = _objective(finished, metric) if state == TrialState.COMPLETE else None
            if state == TrialState.COMPLETE and value is None:
                state = TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(
                state=state, value=value, params=trial.params, distributions=distributions,
                intermediate_values={i + 1: v for i, v in enumerate(series)}))
        if config["Strategy"] == "Grid":
            tried = [t.params for t in trials]
            search.grid = [p for p in space.grid() if p not in tried]
        for trial in trials:  # a retried trial runs again unless its rerun already exists
            if trial.state == "retried" and not any(
                    t.number > trial.number and t.params == trial.params for t in trials):
                study.enqueue_trial(trial.params)
        return search

    def summaries(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        """A HyperParameterTrainingJobSummary for each training job the tuning job launched."""
        tuned = SearchSpace.from_ranges(d["HyperParameterTuningJobConfig"]["ParameterRanges"])
        return [summary(d, t, self._training(t.training_job), tuned.names)
                for t in self.trials(d["HyperParameterTuningJobName"])]

    def _parent_results(self, parent: str, metric: str) -> list[TrainingJob]:
        found = [self._training(t.training_job) for t in self.trials(parent)
                 if t.state == "complete"]
        return [job for job in found if job is not None]

    # --- what Describe shows ----------------------------------------------------------------

    def _publish(self, name: str, trials: list[Trial], jobs: dict[str, TrainingJob | None],
                 search: Search, finish: Callable[[dict[str, Any]], None] | None) -> None:
        def mutate(d: dict[str, Any]) -> None:
            config = d["HyperParameterTuningJobConfig"]
            objective = config["HyperParameterTuningJobObjective"]
            summaries = [summary(d, t, jobs.get(t.training_job), search.space.names)
                         for t in trials]
            d["TrainingJobStatusCounters"] = status_counters(trials, jobs)
            d["ObjectiveStatusCounters"] = objective_counters(summaries)
            best = best_summary(summaries, objective["Type"])
            if best is not None:
                d["BestTrainingJob"] = best
            if d.get("WarmStartConfig"):
                parents = [summary(self.describe(p["HyperParameterTuningJobName"]), t,
                                   self._training(t.training_job), search.space.names)
                           for p in d["WarmStartConfig"]["ParentHyperParameterTuningJobs"]
                           for t in self.trials(p["HyperParameterTuningJobName"])]
                overall = best_summary(summaries + parents, objective["Type"])
                if overall is not None:
                    d["OverallBestTrainingJob"] = overall
            d["ConsumedResources"] = {"RuntimeInSeconds": int(
                d.get("HyperParameterTuningEndTime", time.time()) - d["CreationTime"])}
            if finish is not None:
                finish(d)
        self.change(name, mutate)


def ending_reason(d: dict[str, Any], trials: list[Trial], objectives: dict[int, float | None],
                  max_jobs: int, now: float) -> str:
    """Why a tuning job should end now ("" to go on): its MaxRuntimeInSeconds, a completion
    criterion met, or every trial it may run done.  ``objectives``: completed trials' values."""
    config = d["HyperParameterTuningJobConfig"]
    limit = config["ResourceLimits"].get("MaxRuntimeInSeconds")
    if limit and now - d["CreationTime"] >= float(limit):
        return "MaxRuntimeInSeconds"
    minimize = config["HyperParameterTuningJobObjective"]["Type"] == "Minimize"
    done = [v for _n, v in sorted(objectives.items()) if v is not None]
    criteria = config.get("TuningJobCompletionCriteria", {})
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
    counted = [t for t in trials if t.state != "retried"]
    if len(counted) >= max_jobs and not any(t.state == "running" for t in trials):
        return "MaxNumberOfTrainingJobs"
    return ""


def _missing(name: str) -> errors.CoveError:
    return errors.ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")


# --- summaries and counters -------------------------------------------------------------------

def summary(d: dict[str, Any], trial: Trial, job: TrainingJob | None,
            tuned: list[str]) -> dict[str, Any]:
    """One HyperParameterTrainingJobSummary."""
    objective = d["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    result: dict[str, Any] = {
        "TrainingJobName": trial.training_job,
        "TrainingJobArn": job.arn if job else "",
        "TuningJobName": d["HyperParameterTuningJobName"],
        "CreationTime": job.created if job else d["CreationTime"],
        "TrainingJobStatus": (job.status if job else JobStatus.FAILED).value,
        "TunedHyperParameters": {k: v for k, v in (job.hyperparameters if job else {}).items()
                                 if k in tuned},
    }
    if job is None:
        result["FailureReason"] = "The training job could not be created."
        result["ObjectiveStatus"] = "Failed"
        return result
    times = {"TrainingStartTime": job.started, "TrainingEndTime": job.ended,
             "FailureReason": job.failure_reason or None}
    result.update({k: v for k, v in times.items() if v is not None})
    value = _objective(job, objective["MetricName"])
    if value is not None and job.status.is_finished():
        result["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": objective["Type"], "MetricName": objective["MetricName"], "Value": value}
    result["ObjectiveStatus"] = "Pending" if not job.status.is_finished() else (
        "Succeeded" if value is not None else "Failed")
    return result


def status_counters(trials: list[Trial], jobs: dict[str, TrainingJob | None]
                    ) -> dict[str, int]:
    counts = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0,
              "Stopped": 0}
    for t in trials:
        job = jobs.get(t.training_job)
        status = job.status if job else JobStatus.FAILED
        if t.state == "retried":
            counts["RetryableError"] += 1
        elif not status.is_finished():
            counts["InProgress"] += 1
        elif status is JobStatus.FAILED:
            counts["NonRetryableError"] += 1
        else:
            counts[status.value] += 1
    return counts


def objective_counters(summaries: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for s in summaries:
        counts[s["ObjectiveStatus"]] += 1
    return counts


def best_summary(summaries: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The best Completed job by objective (ties: the earlier job)."""
    done = [s for s in summaries if s["TrainingJobStatus"] == "Completed"
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


def _max_jobs(config: dict[str, Any], search: Search) -> int:
    limit = config["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    if config["Strategy"] == "Grid":
        size = search.space.grid_size()
        return min(size, int(limit)) if limit else size
    return int(limit)


def _final_status(reason: str, trials: list[Trial], jobs: dict[str, TrainingJob | None],
                  metric: str) -> JobStatus:
    if reason == "MaxRuntimeInSeconds":
        return JobStatus.STOPPED
    succeeded = any(_objective(jobs.get(t.training_job), metric) is not None for t in trials)
    return JobStatus.COMPLETED if succeeded else JobStatus.FAILED


def _status(d: dict[str, Any]) -> JobStatus:
    return JobStatus(d["HyperParameterTuningJobStatus"])


def _move(d: dict[str, Any], status: JobStatus) -> None:
    """The tuning job in ``status``: only along the job lifecycle (ValidationException)."""
    d["HyperParameterTuningJobStatus"] = _status(d).check(status, KIND).value


def _end(d: dict[str, Any], status: JobStatus, reason: str) -> None:
    _move(d, status)
    d["HyperParameterTuningEndTime"] = time.time()
    d["ConsumedResources"] = {"RuntimeInSeconds": int(time.time() - d["CreationTime"])}
    if status is JobStatus.FAILED:
        metric = d["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"][
            "MetricName"]
        d["FailureReason"] = reason if reason.startswith("InternalServerError") else (
            f"No training job reported the objective metric {metric!r}: every training job "
            "failed or emitted no value for it. See the training jobs' "
            "FailureReason and logs.")


def resource_config(definition: dict[str, Any]) -> dict[str, Any]:
    config = definition.get("HyperParameterTuningResourceConfig", {})
    return {"InstanceType": config.get("InstanceType", "ml.m5.large"),
            "InstanceCount": int(config.get("InstanceCount", 1)),
            "VolumeSizeInGB": int(config.get("VolumeSizeInGB", 30))}


def _region_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[3], parts[4]
