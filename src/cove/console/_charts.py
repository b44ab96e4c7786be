"""The console's charts as Plotly figures (``{"data": [...], "layout": {...}}``), one JSON
endpoint each, so what a chart shows can be tested without a browser."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cove.console import _compare as compare
from cove.console import _data as data

if TYPE_CHECKING:
    from cove.server import Platform

#: Colour-blind-safe (Okabe-Ito) colours, with enough contrast on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
TRAFFIC_WINDOW = 3600.0


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "xaxis": {"title": {"text": x}},
            "yaxis": {"title": {"text": y}}, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
            "legend": {"orientation": "h"}, "font": {"size": 13},
            "paper_bgcolor": "#ffffff", "plot_bgcolor": "#f7f7f7", **extra}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def training_metrics(platform: Platform, name: str, by: str = "step") -> dict[str, Any]:
    """Each metric the job logged against its iteration (or time): train and validation of
    the same quantity share the chart, validation dashed."""
    traces = []
    for index, (metric, points) in enumerate(sorted(data.training_metrics(platform,
                                                                           name).items())):
        x = [p["step"] for p in points] if by == "step" else [_iso(p["timestamp"])
                                                                for p in points]
        validation = metric.startswith(("validation", "val", "test"))
        traces.append({"type": "scatter", "mode": "lines+markers", "name": metric,
                       "x": x, "y": [p["value"] for p in points],
                       "line": {"color": PALETTE[index % len(PALETTE)],
                                "dash": "dash" if validation else "solid"}})
    return {"data": traces, "layout": _layout(
        f"Metrics of {name}", "iteration" if by == "step" else "time", "value")}


def compared_metric(platform: Platform, names: list[str], metric: str, by: str = "step"
                    ) -> dict[str, Any]:
    """One metric of several jobs, a curve per job in its own colour, overlaid."""
    traces = [{"type": "scatter", "mode": "lines+markers", "name": curve["job"],
               "x": curve["x"], "y": curve["y"],
               "line": {"color": PALETTE[index % len(PALETTE)]}}
              for index, curve in enumerate(compare.metric_curves(platform, names, metric, by))]
    axis = "iteration" if by == "step" else "seconds since the first point"
    return {"data": traces, "layout": _layout(compare.plain(metric), axis,
                                              compare.plain(metric))}


def tuning_objective(platform: Platform, name: str) -> dict[str, Any]:
    """The objective of each trial in launch order, and the best so far."""
    describe, summaries = data.trials(platform, name)
    objective = describe["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    done = sorted((s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s),
                  key=lambda s: s["CreationTime"])
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in done]
    best: list[float] = []
    for value in values:
        pick = min if objective["Type"] == "Minimize" else max
        best.append(value if not best else pick(best[-1], value))
    order = list(range(1, len(values) + 1))
    return {"data": [
        {"type": "scatter", "mode": "markers", "name": "trial", "x": order, "y": values,
         "text": [s["TrainingJobName"] for s in done], "marker": {"color": PALETTE[0],
                                                                   "size": 9}},
        {"type": "scatter", "mode": "lines", "name": "best so far", "x": order, "y": best,
         "line": {"color": PALETTE[1], "shape": "hv"}}],
        "layout": _layout(f"{objective['MetricName']} per trial ({objective['Type']})",
                          "trial (in launch order)", objective["MetricName"],
                          xaxis={"title": {"text": "trial (in launch order)"}, "dtick": 1})}


def tuning_hyperparameter(platform: Platform, name: str, parameter: str) -> dict[str, Any]:
    """One tuned hyperparameter against the objective, one point per trial with a value."""
    describe, summaries = data.trials(platform, name)
    objective = describe["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    done = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
    x = [_number_or_text(s["TunedHyperParameters"].get(parameter, "")) for s in done]
    return {"data": [{"type": "scatter", "mode": "markers", "name": parameter, "x": x,
                      "y": [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                            for s in done],
                      "text": [s["TrainingJobName"] for s in done],
                      "marker": {"color": PALETTE[2], "size": 9}}],
            "layout": _layout(f"{parameter} vs {objective['MetricName']}", parameter,
                              objective["MetricName"])}


def _number_or_text(value: str) -> float | str:
    try:
        return float(value.strip('"'))
    except ValueError:
        return value.strip('"')


def endpoint_traffic(platform: Platform, name: str) -> dict[str, Any]:
    """Requests per variant per 10 s over the last hour, errors dotted."""
    return _per_variant(platform, f"Requests to {name} (per 10 s)", "requests", name, [
        ("requests", "invocations", "lines+markers", "solid"),
        ("errors", "errors", "lines", "dot")])


def endpoint_latency(platform: Platform, name: str) -> dict[str, Any]:
    """p50 and p99 latency per variant per 10 s over the last hour."""
    return _per_variant(platform, f"Latency of {name}", "milliseconds", name, [
        ("p50", "p50", "lines+markers", "solid"), ("p99", "p99", "lines+markers", "dash")])


def _per_variant(platform: Platform, title: str, unit: str, name: str,
                 lines: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """One colour per variant, one trace per ``(label, field, mode, dash)`` of ``lines``, over
    the endpoint's traffic buckets of the last hour."""
    buckets = platform.endpoints.traffic.series(name, time.time() - TRAFFIC_WINDOW)
    traces = []
    for index, variant in enumerate(sorted({b["variant"] for b in buckets})):
        mine = [b for b in buckets if b["variant"] == variant]
        color = PALETTE[index % len(PALETTE)]
        x = [_iso(b["start"]) for b in mine]
        traces += [{"type": "scatter", "mode": mode, "name": f"{variant} {label}", "x": x,
                    "y": [b[field] for b in mine], "line": {"color": color, "dash": dash}}
                   for label, field, mode, dash in lines]
    return {"data": traces, "layout": _layout(title, "time", unit, xaxis=_time_axis(buckets))}


def _time_axis(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    """At least the last five minutes, so a single bucket is not stretched across the chart."""
    now = time.time()
    start = min([b["start"] for b in buckets] + [now - 300]) - 10
    return {"type": "date", "tickformat": "%H:%M",  # UTC; one line of ticks, no title,
            # so the legend below never covers them
            "range": [_iso(start), _iso(now + 10)]}
