"""What the console's pages show, read through the same services the APIs use.

Nothing here keeps state of its own: each function asks the Platform's components (the rows
DescribeTrainingJob, DescribeEndpoint, ... return; the log store; the object store; the
traffic series) at the moment a page or chart is asked for.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cove import errors
from cove.config import parse_duration
from cove.hosting import describe_endpoint, describe_endpoint_config, describe_model
from cove.logs import LogStore
from cove.logs._store import END, Cursor
from cove.meta.tables import endpoints
from cove.notebooks import describe_notebook_instance
from cove.processing import describe_processing_job
from cove.sagemaker import JobStatus, matches_filters
from cove.training import describe_training_job, series
from cove.transform import transform_job_summary
from cove.tuning import describe_tuning_job

if TYPE_CHECKING:
    from cove.server import Platform

TAIL_LINES = 200
RECENT = 8


# --- logs -------------------------------------------------------------------------------------

def log_tail(logs: LogStore, group: str, prefix: str, lines: int = TAIL_LINES
             ) -> list[dict[str, Any]]:
    """The last ``lines`` events of every stream of ``group`` starting with ``prefix``."""
    try:
        streams, _ = logs.describe_streams(group, prefix=prefix, limit=50)
    except errors.CoveError:  # no group yet: the job has logged nothing
        return []
    events: list[dict[str, Any]] = []
    for stream in streams:
        page = logs.get_events(group, stream.name, Cursor(END, forward=False), limit=lines)
        events += [{"stream": stream.name, "timestamp": e.timestamp / 1000.0,
                    # CloudWatch's agent writes a tab as #011 (syslog's octal escape)
                    "message": e.message.replace("#011", "\t")} for e in page.events]
    events.sort(key=lambda e: e["timestamp"])
    return events[-lines:]


# --- training ---------------------------------------------------------------------------------

def training_jobs(platform: Platform, name: str = "", status: str = "") -> list[dict[str, Any]]:
    params = {k: v for k, v in (("NameContains", name), ("StatusEquals", status)) if v}
    jobs = [d for d in map(describe_training_job, platform.training.all())
            if matches_filters(d, params, "TrainingJobName", "TrainingJobStatus")]
    return sorted(jobs, key=lambda d: d["CreationTime"], reverse=True)


def processing_jobs(platform: Platform, name: str = "", status: str = ""
                    ) -> list[dict[str, Any]]:
    params = {k: v for k, v in (("NameContains", name), ("StatusEquals", status)) if v}
    jobs = [d for d in map(describe_processing_job, platform.processing.all())
            if matches_filters(d, params, "ProcessingJobName", "ProcessingJobStatus")]
    return sorted(jobs, key=lambda d: d["CreationTime"], reverse=True)


def training_metrics(platform: Platform, name: str) -> dict[str, list[dict[str, float]]]:
    """Every metric the job logged: name -> points (time, value, step) in order."""
    names = [m["Name"] for m in platform.training.get(name).metric_definitions]
    result: dict[str, list[dict[str, float]]] = {}
    for metric in names:
        points = series(platform.db, name, metric)
        if points:
            result[metric] = [{"timestamp": t, "value": v, "step": s} for t, v, s in points]
    return result


def artifacts(platform: Platform, describe: dict[str, Any]) -> list[str]:
    """The job's model and output archives that exist in the object store."""
    output = describe.get("OutputDataConfig", {}).get("S3OutputPath", "").rstrip("/")
    candidates = [describe.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")]
    if output:
        candidates.append(f"{output}/{describe['TrainingJobName']}/output/output.tar.gz")
    found = []
    for uri in filter(None, candidates):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            platform.store.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchBucket):
            continue
        found.append(uri)
    return found


# --- tuning -----------------------------------------------------------------------------------

def tuning_jobs(platform: Platform) -> list[dict[str, Any]]:
    return [describe_tuning_job(j) for j in sorted(platform.tuning.all(),
                                                   key=lambda j: j.created, reverse=True)]


def trials(platform: Platform, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tuning job and its trials' summaries, best objective first (then the rest)."""
    job = platform.tuning.get(name)
    summaries = platform.tuning.summaries(job)
    sign = 1 if job.minimize else -1

    def key(s: dict[str, Any]) -> tuple[int, float, str]:
        value = s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
        return (0, sign * value, s["TrainingJobName"]) if value is not None else \
            (1, 0.0, s["TrainingJobName"])

    return describe_tuning_job(job), sorted(summaries, key=key)


def tuned_names(describe: dict[str, Any]) -> list[str]:
    ranges = describe["HyperParameterTuningJobConfig"]["ParameterRanges"]
    return [r["Name"] for kind in ("ContinuousParameterRanges", "IntegerParameterRanges",
                                   "CategoricalParameterRanges") for r in ranges.get(kind, [])]


# --- endpoints --------------------------------------------------------------------------------

def idle_warning_seconds(platform: Platform) -> float:
    """Endpoints unused this long get the dashboard's "have you shut it down?" warning."""
    return parse_duration(platform.config.console_idle_warning) or float("inf")


def endpoint_rows(platform: Platform) -> list[dict[str, Any]]:
    """Every endpoint's Describe document with its invocation count and last use."""
    with platform.db.read() as conn:
        usage = {name: (calls, last) for name, calls, last in conn.execute(select(
            endpoints.c.name, endpoints.c.invocations, endpoints.c.last_invocation))}
    now, idle_after = time.time(), idle_warning_seconds(platform)
    result = []
    for endpoint in platform.endpoints.all():
        invocations, last = usage.get(endpoint.name, (0, None))
        used = max(last or 0.0, endpoint.modified)
        result.append({**describe_endpoint(endpoint), "Invocations": invocations or 0,
                       "LastInvocation": last, "Uptime": now - endpoint.created,
                       "Idle": endpoint.status.serves() and now - used > idle_after,
                       "IdleFor": now - used})
    return sorted(result, key=lambda d: d["CreationTime"], reverse=True)


def endpoint(platform: Platform, name: str) -> dict[str, Any]:
    """The endpoint, its configuration and the models that configuration names."""
    row = next((d for d in endpoint_rows(platform) if d["EndpointName"] == name), None)
    if row is None:
        raise errors.ValidationError(f"Could not find endpoint \"{name}\".")
    catalog = platform.endpoints.catalog
    config = catalog.config(row["EndpointConfigName"])
    model_docs = {}
    for model in config.model_names:
        try:
            model_docs[model] = describe_model(catalog.model(model))
        except errors.ValidationError:
            model_docs[model] = {}  # deleted since: the page says so
    return {"endpoint": row, "config": describe_endpoint_config(config), "models": model_docs,
            "history": list(reversed(platform.endpoints.history.events(name)))}


# --- transforms, functions, gateway -----------------------------------------------------------

def transform_jobs(platform: Platform) -> list[dict[str, Any]]:
    jobs = []
    for job in platform.transforms.summaries({}):
        jobs.append({**transform_job_summary(job),
                     "Progress": platform.transforms.progress(job.name)})
    return jobs


def function_invocations(logs: list[dict[str, Any]]) -> tuple[int, int]:
    """(invocations, errors) among a function's log lines: each invocation ends with Lambda's
    REPORT line; a handler that raised logs ``[ERROR] Type: message``, one that ran out of
    time ``Task timed out``."""
    calls = sum(1 for e in logs if e["message"].startswith("REPORT RequestId"))
    failed = sum(1 for e in logs if e["message"].startswith("[ERROR] ")
                 or "Task timed out" in e["message"])
    return calls, failed


def gateway_api(platform: Platform, api_id: str) -> dict[str, Any]:
    gateway = platform.gateway
    return {"api": gateway.api(api_id),
            "routes": gateway.parts(api_id, "route"),
            "integrations": gateway.parts(api_id, "integration"),
            "stages": gateway.parts(api_id, "stage")}


# --- running now ------------------------------------------------------------------------------

def running(platform: Platform) -> dict[str, list[dict[str, Any]]]:
    """What the dashboard lists as running: jobs in progress, with their progress, and the
    notebook instances that run (a JupyterLab each)."""
    training = [describe_training_job(j) for j in platform.training.all()
                if not j.status.is_finished()]
    tuning = [describe_tuning_job(j) for j in platform.tuning.all() if j.status.is_running()]
    transforms = [d for d in transform_jobs(platform)
                  if JobStatus(d["TransformJobStatus"]).is_running()]
    notebooks = [describe_notebook_instance(n) for n in platform.notebooks.all()
                 if n.status.runs()]
    return {"training": training, "tuning": tuning, "transforms": transforms,
            "notebooks": notebooks}


def recent(platform: Platform) -> dict[str, list[dict[str, Any]]]:
    """The latest jobs of each kind, running or not; a tuning job's trials stay under it (its
    row counts them) rather than crowd out the training jobs."""
    standalone = [d for d in training_jobs(platform) if "TuningJobArn" not in d]
    return {"training": standalone[:RECENT],
            "tuning": tuning_jobs(platform)[:RECENT],
            "transforms": transform_jobs(platform)[:RECENT]}
