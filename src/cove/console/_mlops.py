"""Console pages for the model registry (groups, versions with metrics, approve or reject)
and for pipelines (executions as a graph of steps coloured by status, each step linked to
what it ran)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cove import errors
from cove.pipelines import Definition, Pipelines, StepRun, parse
from cove.registry import ApprovalStatus, ModelRegistry, PackageChange, render_package

#: Where a step's job is shown in the console, by its metadata key.
_JOB_PAGES = {"TrainingJob": "training-jobs", "TuningJob": "tuning-jobs",
              "TransformJob": "transform-jobs"}
_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 170, 44, 60, 22

class Pages(Protocol):
    """What these pages use of the console: rendering and CSRF-checked forms."""

    def render(self, request: Request, template: str, http_status: int = 200,
               **context: Any) -> Response: ...

    def _checked_form(self, request: Request) -> Awaitable[dict[str, str]]: ...

@dataclass(frozen=True)
class Node:
    name: str
    type: str
    status: str  # a step status, or "NotRun"
    x: int
    y: int
    link: str
    note: str

class MlopsPages:
    def __init__(self, pages: Pages, prefix: str, registry: ModelRegistry,
                 pipelines: Pipelines) -> None:
        self.pages, self.prefix = pages, prefix
        self.registry, self.pipelines = registry, pipelines

    def routes(self) -> list[Route]:
        p = self.prefix
        return [
            Route(f"{p}/model-registry", self.groups),
            Route(f"{p}/model-registry/{{group}}", self.group),
            Route(f"{p}/model-registry/{{group}}/{{version:int}}/approval", self.approve,
                  methods=["POST"]),
            Route(f"{p}/pipelines", self.pipeline_list),
            Route(f"{p}/pipelines/{{name}}", self.pipeline),
            Route(f"{p}/pipelines/{{name}}/executions/{{id}}", self.execution),
            Route(f"{p}/pipelines/{{name}}/executions/{{id}}/stop", self.stop,
                  methods=["POST"]),
        ]

    # --- registry ---------------------------------------------------------------------------

    def groups(self, request: Request) -> Response:
        packages = self.registry.packages()
        rows = []
        for group in sorted(self.registry.groups(), key=lambda g: -g.created):
            versions = sorted((p for p in packages if p.group == group.name),
                              key=lambda p: p.version or 0)
            latest = versions[-1] if versions else None
            rows.append({"group": group, "versions": len(versions),
                         "latest": render_package(latest) if latest else None})
        return self.pages.render(request, "registry.html", groups=rows)

    def group(self, request: Request) -> Response:
        group = self.registry.group(request.path_params["group"])
        versions = sorted((p for p in self.registry.packages() if p.group == group.name),
                          key=lambda p: -(p.version or 0))
        return self.pages.render(request, "registry_group.html", group=group,
                                 versions=[_version_row(p) for p in versions])

    async def approve(self, request: Request) -> Response:
        form = await self.pages._checked_form(request)
        group = request.path_params["group"]
        change = PackageChange(approval=ApprovalStatus.parse(form.get("status")),
                               approval_description=form.get("description", ""))
        # The look-up and the change read and write the database: off the event loop.
        await asyncio.to_thread(self._approve, group, request.path_params["version"], change)
        return RedirectResponse(f"{self.prefix}/model-registry/{quote(group)}", 303)

    def _approve(self, group: str, version: int, change: PackageChange) -> None:
        package = next((p for p in self.registry.packages()
                        if p.group == group and p.version == version), None)
        if package is None:
            raise errors.ValidationError(f"Could not find version {version} of model package "
                                         f"group '{group}'.")
        self.registry.update_package(package.arn, change)

    # --- pipelines --------------------------------------------------------------------------

    def pipeline_list(self, request: Request) -> Response:
        store = self.pipelines.store
        rows = [{"pipeline": p, "executions": store.executions(p.name)[-1:]}
                for p in sorted(store.all_pipelines(), key=lambda p: -p.created)]
        return self.pages.render(request, "pipelines.html", pipelines=rows)

    def pipeline(self, request: Request) -> Response:
        store = self.pipelines.store
        pipeline = store.pipeline(request.path_params["name"])
        definition = parse(pipeline.definition)
        return self.pages.render(request, "pipeline.html", pipeline=pipeline,
                                 definition=definition,
                                 executions=list(reversed(store.executions(pipeline.name))),
                                 graph=self._graph(definition, {}))

    def execution(self, request: Request) -> Response:
        store = self.pipelines.store
        pipeline = store.pipeline(request.path_params["name"])
        execution = store.execution(f"{pipeline.arn}/execution/{request.path_params['id']}")
        runs = store.steps(execution.arn)
        return self.pages.render(request, "pipeline_execution.html", pipeline=pipeline,
                                 execution=execution,
                                 runs=sorted(runs.values(), key=lambda r: r.started),
                                 graph=self._graph(parse(execution.definition), runs))

    async def stop(self, request: Request) -> Response:
        await self.pages._checked_form(request)
        pipeline = await asyncio.to_thread(self.pipelines.store.pipeline,
                                           request.path_params["name"])
        arn = f"{pipeline.arn}/execution/{request.path_params['id']}"
        await asyncio.to_thread(self.pipelines.stop, arn)
        return RedirectResponse(f"{self.prefix}/pipelines/{quote(pipeline.name)}/executions/"
                                f"{quote(request.path_params['id'])}", 303)

    def _graph(self, definition: Definition, runs: dict[str, StepRun]) -> dict[str, Any]:
        """Steps laid out left to right by depth (a step sits one column right of the
        deepest step it waits for), with the edges between them."""
        depth: dict[str, int] = {}

        def level(name: str) -> int:
            if name not in depth:
                upstream = definition.steps[name].upstream()
                depth[name] = 1 + max((level(u) for u in upstream), default=-1)
            return depth[name]

        columns: dict[int, list[str]] = {}
        for name in definition.steps:
            columns.setdefault(level(name), []).append(name)
        nodes = {name: self._node(definition, runs, name, col, row)
                 for col, names in columns.items() for row, name in enumerate(names)}
        edges = [(nodes[u], nodes[name]) for name, step in definition.steps.items()
                 for u in sorted(step.upstream())]
        width = len(columns) * (_BOX_W + _GAP_X)
        height = max(len(v) for v in columns.values()) * (_BOX_H + _GAP_Y) if columns else 0
        return {"nodes": list(nodes.values()), "edges": edges, "width": width,
                "height": height, "box_w": _BOX_W, "box_h": _BOX_H}

    def _node(self, definition: Definition, runs: dict[str, StepRun], name: str, col: int,
              row: int) -> Node:
        run = runs.get(name)
        link, note = "", ""
        if run is not None:
            for kind, meta in run.metadata.items():
                if kind in _JOB_PAGES and "Arn" in meta:
                    link = f"{self.prefix}/{_JOB_PAGES[kind]}/{quote(_job(meta['Arn']))}"
                if "Outcome" in meta:
                    note = f"outcome: {meta['Outcome']}"
            if run.cache_source:
                note = "cached"
        return Node(name, definition.steps[name].type, run.status.value if run else "NotRun",
                    10 + col * (_BOX_W + _GAP_X), 10 + row * (_BOX_H + _GAP_Y), link, note)

def _job(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]

def _version_row(package: Any) -> dict[str, Any]:
    doc = render_package(package)
    metrics = []
    for section, reports in (doc.get("ModelMetrics") or {}).items():
        for name, report in (reports or {}).items():
            if isinstance(report, dict) and report.get("S3Uri"):
                metrics.append({"name": f"{section} {name}", "uri": report["S3Uri"]})
    return {"doc": doc, "metrics": metrics}
