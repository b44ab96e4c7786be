"""HTTP APIs, durably: an API row plus its integrations, routes, stages and deployments.

Each part is stored as the document its Get* operation returns.  A stage with AutoDeploy serves
the API's current routes; one without serves the routes of its last deployment (a snapshot
CreateDeployment takes).  The gateway's request path reads a compiled :class:`StageView`,
cached per stage and dropped whenever the API changes.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from cove import errors
from cove.gateway._routes import Route, compile_route, parse_route_key
from cove.gateway._throttle import TokenBucket
from cove.meta import Database
from cove.meta.tables import gateway_apis, gateway_parts

#: Remembered (api, stage) pairs that name nothing.
MAX_ABSENT = 4096


@dataclass
class StageView:
    """What serving one stage needs, compiled once."""

    api: dict[str, Any]
    stage: dict[str, Any]
    routes: list[Route]
    buckets: dict[str, TokenBucket | None] = field(default_factory=dict)

    def bucket(self, route_key: str) -> TokenBucket | None:
        """The token bucket of a route (its RouteSettings, else the stage's defaults)."""
        if route_key not in self.buckets:
            settings = {**self.stage.get("DefaultRouteSettings", {}),
                        **self.stage.get("RouteSettings", {}).get(route_key, {})}
            rate, burst = settings.get("ThrottlingRateLimit"), settings.get(
                "ThrottlingBurstLimit")
            self.buckets[route_key] = (None if rate is None and burst is None else TokenBucket(
                float(rate if rate is not None else 10000), int(burst if burst is not None
                                                                 else 5000)))
        return self.buckets[route_key]


def new_id(length: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))


class Gateway:
    def __init__(self, db: Database, url: str) -> None:
        """``url``: where cove listens (an API's ApiEndpoint is under it)."""
        self.db = db
        self.url = url
        #: Compiled stages that exist: as many as the database holds (and their token buckets
        #: must live as long as the stage).
        self._views: dict[tuple[str, str], StageView] = {}
        #: (api, stage) pairs that name nothing, oldest first: anyone can send /gw/<api>/<any
        #: first segment>, so these are bounded.
        self._absent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    # --- APIs -------------------------------------------------------------------------------

    def create_api(self, doc: dict[str, Any]) -> dict[str, Any]:
        api_id = new_id(10)
        doc = {**doc, "ApiId": api_id, "CreatedDate": time.time()}
        with self.db.write() as conn:
            conn.execute(insert(gateway_apis).values(api_id=api_id, created=time.time(),
                                                     describe=doc))
        return self.api(api_id)

    def api(self, api_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(gateway_apis.c.describe).where(
                gateway_apis.c.api_id == api_id)).first()
        if row is None:
            raise errors.NotFound(f"Invalid API identifier specified {api_id}")
        return self._with_endpoint(row.describe)

    def apis(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(gateway_apis.c.describe).order_by(
                gateway_apis.c.created)).all()
        return [self._with_endpoint(row.describe) for row in rows]

    def update_api(self, api_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        doc = {**self.api(api_id), **changes}
        doc.pop("ApiEndpoint", None)
        with self.db.write() as conn:
            conn.execute(update(gateway_apis).where(gateway_apis.c.api_id == api_id).values(
                describe=doc))
        self._changed(api_id)
        return self.api(api_id)

    def delete_api(self, api_id: str) -> None:
        self.api(api_id)
        with self.db.write() as conn:
            conn.execute(delete(gateway_apis).where(gateway_apis.c.api_id == api_id))
            conn.execute(delete(gateway_parts).where(gateway_parts.c.api_id == api_id))
        self._changed(api_id)

    def _with_endpoint(self, doc: dict[str, Any]) -> dict[str, Any]:
        # Computed, not stored: the server's port may differ from one run to the next.
        return {**doc, "ApiEndpoint": f"{self.url}/gw/{doc['ApiId']}"}

    # --- parts ------------------------------------------------------------------------------

    def add(self, api_id: str, kind: str, part_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        self.api(api_id)
        with self.db.write() as conn:
            conn.execute(insert(gateway_parts).values(api_id=api_id, kind=kind, part_id=part_id,
                                                      created=time.time(), describe=doc))
        self._changed(api_id)
        return doc

    def part(self, api_id: str, kind: str, part_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(gateway_parts.c.describe).where(and_(
                gateway_parts.c.api_id == api_id, gateway_parts.c.kind == kind,
                gateway_parts.c.part_id == part_id))).first()
        if row is None:
            self.api(api_id)
            raise errors.NotFound(f"Invalid {kind.capitalize()} identifier specified {part_id}")
        doc: dict[str, Any] = row.describe
        return doc

    def parts(self, api_id: str, kind: str) -> list[dict[str, Any]]:
        self.api(api_id)
        with self.db.read() as conn:
            rows = conn.execute(select(gateway_parts.c.describe).where(and_(
                gateway_parts.c.api_id == api_id, gateway_parts.c.kind == kind)).order_by(
                gateway_parts.c.created)).all()
        return [row.describe for row in rows]

    def replace(self, api_id: str, kind: str, part_id: str, doc: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(update(gateway_parts).where(and_(
                gateway_parts.c.api_id == api_id, gateway_parts.c.kind == kind,
                gateway_parts.c.part_id == part_id)).values(describe=doc))
        self._changed(api_id)

    def remove(self, api_id: str, kind: str, part_id: str) -> None:
        self.part(api_id, kind, part_id)
        with self.db.write() as conn:
            conn.execute(delete(gateway_parts).where(and_(
                gateway_parts.c.api_id == api_id, gateway_parts.c.kind == kind,
                gateway_parts.c.part_id == part_id)))
        self._changed(api_id)

    def snapshot(self, api_id: str) -> dict[str, Any]:
        """What a deployment freezes: the routes with their integrations."""
        return {"routes": self.parts(api_id, "route"),
                "integrations": self.parts(api_id, "integration")}

    # --- serving ----------------------------------------------------------------------------

    def cached(self, api_id: str, stage: str) -> tuple[bool, StageView | None]:
        """(known, view) from memory alone, for the event loop: known False means only
        :meth:`view` (which reads the database) can say."""
        key = (api_id, stage)
        view = self._views.get(key)  # one lookup: writers drop keys from threads
        if view is not None:
            return True, view
        return key in self._absent, None

    def view(self, api_id: str, stage: str) -> StageView | None:
        """The compiled stage (None: no such API or stage); cached until the API changes.
        Reads the database on a miss: call it from a worker thread."""
        known, view = self.cached(api_id, stage)
        if known:
            return view
        generation = self._generation
        view = self._build(api_id, stage)
        with self._lock:
            if generation == self._generation:  # no change raced with the build
                self._remember((api_id, stage), view)
        return view

    def _remember(self, key: tuple[str, str], view: StageView | None) -> None:
        if view is not None:
            self._views[key] = view
            return
        self._absent[key] = None
        if len(self._absent) > MAX_ABSENT:
            self._absent.popitem(last=False)

    def _build(self, api_id: str, stage_name: str) -> StageView | None:
        try:
            api = self.api(api_id)
            stage = self.part(api_id, "stage", stage_name)
        except errors.NotFound:
            return None
        if stage.get("AutoDeploy"):
            frozen = self.snapshot(api_id)
        elif stage.get("DeploymentId"):
            deployment = self.part(api_id, "deployment", stage["DeploymentId"])
            frozen = deployment["Snapshot"]
        else:
            frozen = {"routes": [], "integrations": []}
        integrations = {i["IntegrationId"]: i for i in frozen["integrations"]}
        routes = []
        for route in frozen["routes"]:
            target = route.get("Target", "").removeprefix("integrations/")
            if target in integrations:
                parse_route_key(route["RouteKey"])
                routes.append(compile_route(route["RouteKey"], integrations[target]))
        return StageView(api, stage, routes)

    def _changed(self, api_id: str) -> None:
        with self._lock:
            self._generation += 1
            for key in [k for k in self._views if k[0] == api_id]:
                del self._views[key]
            for key in [k for k in self._absent if k[0] == api_id]:
                del self._absent[key]
