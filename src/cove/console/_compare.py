"""The training list as an experiment tracker shows it, and the compare view.

The list's columns are the user's choice — built-in ones (status, algorithm, instance type,
duration, ...), any hyperparameter, any metric's final value — named in the page address
(``?col=hp:eta&col=metric:validation:auc``), so a choice survives a reload, a bookmark and a
shared link (the page's script also remembers the last one).  The compare view puts several
jobs side by side: every hyperparameter with the differing ones marked, final metrics, and
one chart per metric with each job's curve overlaid.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cove import errors
from cove.training import TERMINAL, describe_training_job, final_values, series

if TYPE_CHECKING:
    from cove.server import Platform

#: label of each built-in column, in the order the chooser offers them
BUILT_IN = {"status": "Status", "phase": "Phase", "created": "Created",
            "duration": "Duration", "algorithm": "Algorithm / image",
            "instance": "Instance type", "tuning": "Tuning job"}
DEFAULT_COLUMNS = ("status", "phase", "created", "duration")
#: the prefixes of the columns a job's own data names
HYPERPARAMETER, METRIC = "hp:", "metric:"
#: Bounds on what an address may ask for: a page stays readable, a request cheap.
MAX_COLUMNS = 40
MAX_COMPARED = 12
#: SageMaker's own hyperparameters of script mode: offered after the user's own.
_SDK_HYPERPARAMETERS = "sagemaker_"


class BadChoice(errors.ClientError):
    """An address asks for what the list or the compare view cannot show (a page's own 400:
    a plain ValidationError on a page reads as "not found")."""

    code = "ValidationException"
    status = 400


@dataclass(frozen=True)
class Column:
    key: str  # "status", "hp:eta", "metric:validation:auc"
    label: str

    @property
    def kind(self) -> str:
        if self.key.startswith(HYPERPARAMETER):
            return "hyperparameter"
        return "metric" if self.key.startswith(METRIC) else "built-in"


def column(key: str) -> Column:
    if key in BUILT_IN:
        return Column(key, BUILT_IN[key])
    for prefix in (HYPERPARAMETER, METRIC):
        if key.startswith(prefix) and len(key) > len(prefix):
            return Column(key, key.removeprefix(prefix))
    raise BadChoice(
        f"Unknown column {key!r}: choose from {', '.join(BUILT_IN)}, hp:NAME or metric:NAME.")


def available_columns(jobs: Iterable[dict[str, Any]]) -> list[Column]:
    """Every built-in column, then each hyperparameter and metric some job has, by name."""
    hyperparameters: set[str] = set()
    metrics: set[str] = set()
    for job in jobs:
        hyperparameters.update(job.get("HyperParameters", {}))
        metrics.update(_metric_names(job))
    ordered = sorted(hyperparameters, key=lambda h: (h.startswith(_SDK_HYPERPARAMETERS), h))
    return ([Column(k, v) for k, v in BUILT_IN.items()]
            + [Column(HYPERPARAMETER + h, h) for h in ordered]
            + [Column(METRIC + m, m) for m in sorted(metrics)])


def chosen_columns(keys: Sequence[str]) -> list[Column]:
    """The columns an address names, in its order; none (or only ``name``, which is always
    shown): the default ones."""
    wanted = [k for k in dict.fromkeys(keys) if k and k != "name"]
    if len(wanted) > MAX_COLUMNS:
        raise BadChoice(f"Choose at most {MAX_COLUMNS} columns.")
    return [column(k) for k in wanted] if wanted else [column(k) for k in DEFAULT_COLUMNS]


def _metric_names(job: dict[str, Any]) -> list[str]:
    defined = job.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    return [d["Name"] for d in defined] + [m["MetricName"] for m in
                                           job.get("FinalMetricDataList", [])]


def final_metrics(platform: Platform, job: dict[str, Any]) -> dict[str, float]:
    """Each metric's last value: the job's FinalMetricDataList once it has ended, the latest
    point logged while it runs."""
    if job["TrainingJobStatus"] in TERMINAL:
        found = job.get("FinalMetricDataList", [])
    else:
        found = final_values(platform.db, job["TrainingJobName"])
    return {str(m["MetricName"]): float(m["Value"]) for m in found}


def cell(job: dict[str, Any], key: str, metrics: dict[str, float], now: float) -> Any:
    """What a column shows for a job: a string or number (sortable), or None for "—"."""
    if key.startswith(HYPERPARAMETER):
        return job.get("HyperParameters", {}).get(key.removeprefix(HYPERPARAMETER))
    if key.startswith(METRIC):
        return metrics.get(key.removeprefix(METRIC))
    return _BUILT_IN_CELLS[key](job, now)


def algorithm(job: dict[str, Any]) -> str:
    """The image's repository and tag (``sagemaker-xgboost:1.7-1``), or the algorithm's name."""
    spec = job.get("AlgorithmSpecification", {})
    image = str(spec.get("TrainingImage", ""))
    return image.rpartition("/")[2] if image else str(spec.get("AlgorithmName", ""))


def duration(job: dict[str, Any], now: float) -> float:
    return float(job.get("TrainingEndTime") or now) - float(job["CreationTime"])


def _instance(job: dict[str, Any], _: float) -> str:
    resources = job.get("ResourceConfig", {})
    count = resources.get("InstanceCount", 1)
    kind = str(resources.get("InstanceType", ""))
    return f"{count} × {kind}" if count != 1 else kind


_BUILT_IN_CELLS: dict[str, Any] = {
    "status": lambda j, _: j["TrainingJobStatus"],
    "phase": lambda j, _: j.get("SecondaryStatus"),
    "created": lambda j, _: j["CreationTime"],
    "duration": duration,
    "algorithm": lambda j, _: algorithm(j),
    "instance": _instance,
    "tuning": lambda j, _: str(j.get("TuningJobArn", "")).rpartition("/")[2] or None,
}


def table(platform: Platform, jobs: list[dict[str, Any]], columns: list[Column], sort: str,
          descending: bool) -> list[dict[str, Any]]:
    """One row per job: its name, and a cell per column; sorted by ``sort`` when it is one
    of the columns (jobs without a value last)."""
    now = time.time()
    needs_metrics = any(c.kind == "metric" for c in columns)
    rows = []
    for job in jobs:
        metrics = final_metrics(platform, job) if needs_metrics else {}
        rows.append({"name": job["TrainingJobName"], "cells": [
            cell(job, c.key, metrics, now) for c in columns]})
    keys = [c.key for c in columns]
    if sort in keys:
        at = keys.index(sort)
        present = [r for r in rows if r["cells"][at] is not None]
        present.sort(key=lambda r: _sortable(r["cells"][at]), reverse=descending)
        rows = present + [r for r in rows if r["cells"][at] is None]
    return rows


def _sortable(value: Any) -> tuple[int, float, str]:
    """Numbers before words, numbers by value (hyperparameters are strings on the wire)."""
    try:
        return 0, float(str(value).strip('"')), ""
    except ValueError:
        return 1, 0.0, str(value)


# --- compare ----------------------------------------------------------------------------------

def compared_names(names: Sequence[str]) -> list[str]:
    """The jobs an address names to compare, each once, in its order."""
    unique = list(dict.fromkeys(n for n in names if n))
    if not unique:
        raise BadChoice("Choose the training jobs to compare: tick them in the "
                                     "list of training jobs (or of a tuning job's trials).")
    if len(unique) > MAX_COMPARED:
        raise BadChoice(f"Compare at most {MAX_COMPARED} training jobs at a time "
                                     f"({len(unique)} were chosen).")
    return unique


def comparison(platform: Platform, names: Sequence[str]) -> dict[str, Any]:
    """The jobs side by side: one row per property, hyperparameter and final metric, each
    marked when the jobs differ in it; and the metrics that have a curve to draw."""
    jobs = [describe_training_job(platform.training.get(name)) for name in compared_names(names)]
    now = time.time()
    finals = [final_metrics(platform, job) for job in jobs]
    # durations always differ a little: not worth a mark
    overview = [_row(Column(key, label), [cell(job, key, {}, now) for job in jobs],
                     mark=key != "duration")
                for key, label in BUILT_IN.items() if key not in ("created", "phase")]
    hyperparameters = sorted({h for job in jobs for h in job.get("HyperParameters", {})},
                             key=lambda h: (h.startswith(_SDK_HYPERPARAMETERS), h))
    metric_names = sorted({m for final in finals for m in final}
                          | {m for job in jobs for m in _metric_names(job)})
    return {"jobs": jobs, "overview": overview,
            "hyperparameters": [_row(Column(HYPERPARAMETER + h, h), [
                job.get("HyperParameters", {}).get(h) for job in jobs]) for h in hyperparameters],
            "metrics": [_row(Column(METRIC + m, m), [final.get(m) for final in finals])
                        for m in metric_names],
            "charted": [m for m in metric_names if any(
                series(platform.db, job["TrainingJobName"], m) for job in jobs)]}


def _row(of: Column, values: list[Any], mark: bool = True) -> dict[str, Any]:
    return {"column": of, "label": of.label, "cells": values, "differs": mark and len(
        {_sortable(v) if v is not None else None for v in values}) > 1}


def metric_curves(platform: Platform, names: Sequence[str], metric: str, by: str
                  ) -> list[dict[str, Any]]:
    """One metric of each job: ``{"job", "x", "y"}``, x the iteration or the seconds since the
    job's first point of the metric (so curves of jobs started at different times overlay)."""
    curves = []
    for name in compared_names(names):
        platform.training.get(name)  # a missing job is an error, not an empty curve
        points = series(platform.db, name, metric)
        start = points[0][0] if points else 0.0
        x = [s for _, _, s in points] if by == "step" else [round(t - start, 3)
                                                           for t, _, _ in points]
        curves.append({"job": name, "x": x, "y": [v for _, v, _ in points]})
    return curves


def plain(text: str) -> str:
    """Text for a Plotly label: Plotly reads a few HTML tags and entities in labels, so a
    metric named ``<b>x</b>`` is written as it is named, not drawn bold (or as a link)."""
    return html.escape(text, quote=False)
