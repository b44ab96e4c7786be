"""Metrics from log lines: MetricDefinitions regexes (and the built-ins' own), matched against
lines in which TABs read ``#011``, as CloudWatch shows them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from sqlalchemy import and_, insert, select

from cove.meta import Database
from cove.meta.tables import training_metrics


@dataclass
class MetricParser:
    definitions: list[dict[str, str]]
    _compiled: list[tuple[str, re.Pattern[str]]] = field(init=False)
    _steps: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._compiled = []
        for definition in self.definitions:
            try:
                self._compiled.append((definition["Name"], re.compile(definition["Regex"])))
            except re.error:
                continue  # validated at create time; a bad one never matches

    def parse(self, line: str, now: float | None = None) -> list[dict[str, float | str | int]]:
        found: list[dict[str, float | str | int]] = []
        for name, pattern in self._compiled:
            match = pattern.search(line)
            if not match:
                continue
            try:
                value = float(match.group(1))
            except (IndexError, ValueError):
                continue
            step = self._steps.get(name, 0)
            self._steps[name] = step + 1
            found.append({"name": name, "value": value, "step": step,
                          "timestamp": now or time.time()})
        return found


def record(db: Database, job_name: str, points: list[dict[str, float | str | int]]) -> None:
    if not points:
        return
    with db.write() as conn:
        conn.execute(insert(training_metrics), [
            {"job_name": job_name, "metric_name": p["name"], "timestamp": p["timestamp"],
             "value": p["value"], "step": p["step"]} for p in points])


def final_values(db: Database, job_name: str) -> list[dict[str, float | str]]:
    """FinalMetricDataList: each metric's last value."""
    with db.read() as conn:
        rows = conn.execute(select(training_metrics).where(
            training_metrics.c.job_name == job_name).order_by(training_metrics.c.id)).all()
    last = {row.metric_name: row for row in rows}
    return [{"MetricName": name, "Value": row.value, "Timestamp": row.timestamp}
            for name, row in sorted(last.items())]


def series(db: Database, job_name: str, metric: str) -> list[tuple[float, float, int]]:
    """(timestamp, value, step) of one metric, in order."""
    with db.read() as conn:
        rows = conn.execute(select(training_metrics).where(and_(
            training_metrics.c.job_name == job_name,
            training_metrics.c.metric_name == metric)).order_by(training_metrics.c.id)).all()
    return [(r.timestamp, r.value, r.step) for r in rows]


def check_definitions(definitions: list[dict[str, str]]) -> str:
    """An error message for the first unusable regex, or ""."""
    for definition in definitions:
        try:
            pattern = re.compile(definition["Regex"])
        except re.error as exc:
            return f"MetricDefinitions {definition['Name']!r}: the regex does not compile: {exc}"
        if pattern.groups < 1:
            return (f"MetricDefinitions {definition['Name']!r}: the regex needs a capture group "
                    "around the value, e.g. 'loss: ([0-9.]+)'")
    return ""
