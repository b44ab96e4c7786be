"""Endpoints: their records (``_records.Endpoint``, stored by ``_rows``) and the live fleets
that serve them.

The record is the truth; the fleets are derived from it and are
rebuilt from it when cove starts.  A deployment — the fleets of one endpoint configuration —
is swapped in one assignment, so an update never leaves a request without a fleet: the new
deployment starts and answers /ping first, traffic moves, the old one drains and stops.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from cove import errors
from cove.executors import Executor, Sandbox
from cove.hosting._artifacts import ArtifactCache
from cove.hosting._capture import CapturePolicy, Capturer
from cove.hosting._catalog import Catalog
from cove.hosting._fleet import Fleet, FleetFailed, FleetSpec
from cove.hosting._history import History
from cove.hosting._models import prepare_model, serving_python
from cove.hosting._records import (
    Capture,
    DeployedVariant,
    Endpoint,
    EndpointStatus,
    Model,
    PendingUpdate,
)
from cove.hosting._rows import dump_endpoint, load_endpoint
from cove.hosting._traffic import Traffic
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import endpoints
from cove.sagemaker import arn
from cove.training._envs import Environments

log = logging.getLogger("cove.hosting")

DRAIN_SECONDS = 60.0
#: Owners of endpoint workers' keys start with this (all of them end when cove restarts).
WORKER_KEY_PREFIX = "endpoint-workers:"


@dataclass
class LiveVariant:
    name: str
    fleet: Fleet
    weight: float
    image: str


@dataclass
class Deployment:
    """The fleets serving one endpoint configuration."""

    config_name: str
    variants: dict[str, LiveVariant]
    capture: CapturePolicy | None = None

    def choose(self, rng: random.Random, target: str | None) -> LiveVariant:
        if target:
            if target not in self.variants:
                raise errors.RuntimeValidationError(
                    f"Variant {target} not found for this endpoint: it has "
                    f"{', '.join(sorted(self.variants))}.")
            return self.variants[target]
        if len(self.variants) == 1:  # the usual endpoint: nothing to draw
            only = next(iter(self.variants.values()))
            if only.weight > 0:
                return only
        live = [v for v in self.variants.values() if v.weight > 0]
        if not live:
            raise errors.RuntimeValidationError("Every variant of this endpoint has weight 0.")
        point = rng.uniform(0, sum(v.weight for v in live))
        for variant in live:
            point -= variant.weight
            if point <= 0:
                return variant
        return live[-1]

    def stop(self, drain_seconds: float = 0.0) -> None:
        for variant in self.variants.values():
            variant.fleet.stop(drain_seconds)


@dataclass(frozen=True)
class HostingSettings:
    home: Path
    #: Where cove listens: what the workers' boto3 reaches it at.
    endpoint_url: str
    region: str
    routing_seed: int | None = None
    #: Stop endpoints unused for this many seconds (OutOfService); 0 keeps them forever.
    idle_timeout: float = 0.0

    @property
    def envs_dir(self) -> Path:
        """requirements.txt environments: training's cache, shared (see TrainingSettings)."""
        return self.home / "envs"


class Endpoints:
    """The endpoint service: CreateEndpoint's, UpdateEndpoint's and DeleteEndpoint's rules, the
    lifecycle (:class:`EndpointStatus`) and the live fleets."""

    def __init__(self, db: Database, catalog: Catalog, artifacts: ArtifactCache,
                 logs: LogStore, sandbox: Sandbox, settings: HostingSettings,
                 executor: Executor | None = None, identity: Identity | None = None) -> None:
        self.db, self.catalog, self.artifacts = db, catalog, artifacts
        self.logs, self.sandbox = logs, sandbox
        self.settings = settings
        #: Issues the workers' keys (acting for the model's ExecutionRoleArn); None: no keys.
        self.identity = identity
        #: Where the workers reach cove (set once the server listens).
        self.endpoint_url = settings.endpoint_url
        #: Where workers run: None or a local executor, here; Ray: actors on the cluster.
        self.executor = executor
        self.live: dict[str, Deployment] = {}
        self.rng = random.Random(settings.routing_seed)
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}
        self.capturer = Capturer(artifacts.store)
        self.envs = Environments(settings.envs_dir, sandbox)
        #: Requests, errors and latency per variant over time (the console's charts).
        self.traffic = Traffic(db)
        #: What each endpoint ran when (the console's configuration history).
        self.history = History(db)

    # --- rows -------------------------------------------------------------------------------

    def usage(self) -> dict[str, tuple[int, float | None]]:
        """Per endpoint: invocations so far and when the last one came (epoch seconds)."""
        c = endpoints.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.name, c.invocations, c.last_invocation)).all()
        return {name: (calls or 0, last) for name, calls, last in rows}

    def endpoint(self, name: str) -> Endpoint:
        with self.db.read() as conn:
            row = conn.execute(select(endpoints.c.describe).where(
                endpoints.c.name == name)).first()
        if row is None:
            raise errors.ValidationError(f"Could not find endpoint \"{name}\".")
        return load_endpoint(dict(row.describe))

    def all(self) -> list[Endpoint]:
        with self.db.read() as conn:
            return [load_endpoint(dict(d)) for (d,) in conn.execute(select(endpoints.c.describe))]

    def change(self, name: str, step: Callable[[Endpoint], Endpoint]) -> Endpoint:
        """Replace an endpoint's record by ``step(record)`` in one transaction."""
        with self.db.write() as conn:
            row = conn.execute(select(endpoints.c.describe).where(
                endpoints.c.name == name)).first()
            if row is None:
                raise errors.ValidationError(f"Could not find endpoint \"{name}\".")
            endpoint = step(load_endpoint(dict(row.describe))).touched(time.time())
            conn.execute(update(endpoints).where(endpoints.c.name == name).values(
                describe=dump_endpoint(endpoint), status=endpoint.status.value))
        return endpoint

    # --- lifecycle --------------------------------------------------------------------------

    def create(self, name: str, config_name: str, region: str, account: str) -> Endpoint:
        """CreateEndpoint: the record (Creating) now, the fleets in the background."""
        config = self.catalog.config(config_name)
        now = time.time()
        capture = config.data_capture
        endpoint = Endpoint(name, arn(region, account, "endpoint", name), config_name,
                            EndpointStatus.CREATING, now, now, capture=Capture(
                                bool(capture.get("EnableCapture", True)),
                                int(capture.get("InitialSamplingPercentage", 100)),
                                str(capture["DestinationS3Uri"])) if capture else None)
        with self.db.write() as conn:
            if conn.execute(select(endpoints.c.name).where(endpoints.c.name == name)).first():
                raise errors.ValidationError(
                    f"Cannot create already existing endpoint \"{endpoint.arn}\".")
            conn.execute(endpoints.insert().values(
                name=name, arn=endpoint.arn, status=endpoint.status.value,
                creation_time=now, describe=dump_endpoint(endpoint)))
        self._background(self._deploy_new, name, config_name)
        return endpoint

    def update(self, name: str, config_name: str) -> Endpoint:
        current = self.endpoint(name)
        if current.status is EndpointStatus.OUT_OF_SERVICE:  # stopped when idle: start again
            self.catalog.config(config_name)
            updated = self.change(name, lambda e: e.moved(EndpointStatus.CREATING))
            self._background(self._deploy_new, name, config_name)
            return updated
        if not current.status.serves():
            raise errors.ValidationError(
                f"Cannot update in-progress endpoint \"{current.arn}\": it is "
                f"{current.status.value}.")
        self.catalog.config(config_name)
        # The target is in the row before the 200: a crash mid-update resumes it (recover).
        updated = self.change(name, lambda e: e.moved(
            EndpointStatus.UPDATING, pending=PendingUpdate(config_name, time.time())))
        self._background(self._deploy_update, name, config_name)
        return updated

    def update_weights(self, name: str, desired: list[dict[str, Any]]) -> Endpoint:
        current = self.endpoint(name)
        deployment = self.live.get(name)
        if not current.status.serves() or deployment is None:
            raise errors.ValidationError(f"Cannot update endpoint \"{name}\": it is "
                                         f"{current.status.value}.")
        for item in desired:
            if item["VariantName"] not in deployment.variants:
                raise errors.ValidationError(
                    f"The variant(s) \"[{item['VariantName']}]\" is/are not present in the "
                    f"endpoint \"{name}\".")
        updated = self.change(name, lambda e: e.moved(EndpointStatus.UPDATING))
        self._background(self._apply_weights, name, desired)
        return updated

    def delete(self, name: str) -> None:
        """DeleteEndpoint: its fleets stop, its row, history, traffic and tags go."""
        endpoint = self.change(name, lambda e: e.moved(EndpointStatus.DELETING))
        with self._lock:
            deployment = self.live.pop(name, None)
        if deployment is not None:
            deployment.stop()
        with self.db.write() as conn:
            conn.execute(delete(endpoints).where(endpoints.c.name == name))
        self.traffic.forget(name)
        self.history.forget(name)
        self.catalog.tags.forget(endpoint.arn)

    def recover(self) -> None:
        """After a restart, bring every endpoint that was serving (or starting) back."""
        if self.identity is not None:  # the workers that held these keys died with cove
            self.identity.revoke_prefix(WORKER_KEY_PREFIX)
        for endpoint in self.all():
            name, status = endpoint.name, endpoint.status
            if status is EndpointStatus.DELETING:
                with self.db.write() as conn:
                    conn.execute(delete(endpoints).where(endpoints.c.name == name))
            elif status is EndpointStatus.UPDATING and endpoint.pending is not None:
                self._background(self._resume_update, name, endpoint.config_name,
                                 endpoint.pending.config_name)
            elif status.had_fleets():
                self.change(name, lambda e: e.moved(EndpointStatus.CREATING))
                self._background(self._deploy_new, name, endpoint.config_name, True)

    def shutdown(self) -> None:
        with self._lock:
            deployments, self.live = list(self.live.values()), {}
        for deployment in deployments:
            deployment.stop()

    # --- deploying --------------------------------------------------------------------------

    def _background(self, target: Callable[..., None], *args: Any) -> None:
        threading.Thread(target=target, args=args, daemon=True,
                         name=f"cove-endpoint-{args[0]}").start()

    def _deploy_new(self, name: str, config_name: str, restored: bool = False) -> None:
        """Deploy ``config_name``; ``restored``: the endpoint served it before a restart, and
        keeps what its FailureReason said (a rolled-back update's, say)."""
        self.history.record(name, EndpointStatus.CREATING.value, config_name)
        try:
            deployment = self.build(name, config_name)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the endpoint ends Failed
            reason = _reason(exc, name)
            self.change(name, lambda e: e.failed(EndpointStatus.FAILED, reason))
            self.history.record(name, EndpointStatus.FAILED.value, config_name, reason)
            return
        self._go_live(name, deployment, restored)

    def _go_live(self, name: str, deployment: Deployment, restored: bool = False) -> None:
        with self._lock:
            self.live[name] = deployment
        self.change(name, lambda e: _in_service(e, deployment, keep_reason=restored))
        self.history.record(name, EndpointStatus.IN_SERVICE.value, deployment.config_name,
                            _weights(deployment))

    def _resume_update(self, name: str, old_config: str, new_config: str) -> None:
        """After a crash mid-update (nothing is live): finish the acknowledged update, or, if
        the new configuration cannot start, roll back to the old one and say so."""
        self.history.record(name, EndpointStatus.UPDATING.value, new_config,
                            "resumed after a restart")
        try:
            self._go_live(name, self.build(name, new_config))
            return
        except Exception as exc:  # noqa: BLE001 - the update failed: roll back below
            reason = _reason(exc, name)
        self.history.record(name, "UpdateRolledBack", new_config, reason)
        try:
            deployment = self.build(name, old_config)
        except Exception as exc:  # noqa: BLE001 - neither configuration starts
            both = (f"UpdateRollbackFailed: the update to {new_config} failed ({reason}) and "
                    f"rolling back to {old_config} failed too: {_reason(exc, name)}")
            self.change(name, lambda e: e.failed(EndpointStatus.FAILED, both))
            self.history.record(name, EndpointStatus.FAILED.value, old_config, both)
            return
        self._go_live(name, deployment)
        rolled_back = _rolled_back(new_config, reason)
        self.change(name, lambda e: replace(e, failure_reason=rolled_back))

    def _deploy_update(self, name: str, config_name: str) -> None:
        self.history.record(name, EndpointStatus.UPDATING.value, config_name)
        try:
            deployment = self.build(name, config_name)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the old fleets serve on
            reason = _reason(exc, name)
            self.history.record(name, "UpdateRolledBack", config_name, reason)
            self.change(name, lambda e: e.failed(EndpointStatus.IN_SERVICE,
                                                 _rolled_back(config_name, reason)))
            return
        with self._lock:
            old = self.live.get(name)
            self.live[name] = deployment  # the switch: new requests go to the new fleets
        self.change(name, lambda e: _in_service(e, deployment))
        self.history.record(name, EndpointStatus.IN_SERVICE.value, config_name,
                            _weights(deployment))
        if old is not None:
            old.stop(DRAIN_SECONDS)

    def _apply_weights(self, name: str, desired: list[dict[str, Any]]) -> None:
        deployment = self.live[name]
        problem = ""
        for item in desired:
            variant = deployment.variants[item["VariantName"]]
            if "DesiredWeight" in item:
                variant.weight = float(item["DesiredWeight"])
            if "DesiredInstanceCount" in item:
                try:
                    variant.fleet.scale(int(item["DesiredInstanceCount"]))
                except FleetFailed as exc:
                    problem = exc.message

        def applied(endpoint: Endpoint) -> Endpoint:
            serving = _in_service(endpoint, deployment)
            return replace(serving, failure_reason=problem) if problem else serving

        self.change(name, applied)
        self.history.record(name, "WeightsChanged", deployment.config_name,
                            "; ".join(filter(None, [_weights(deployment), problem])))

    def build(self, name: str, config_name: str) -> Deployment:
        """Start the fleets of ``config_name`` for endpoint ``name``; all or nothing."""
        config = self.catalog.config(config_name)
        started: list[LiveVariant] = []
        deployment_id = uuid.uuid4().hex[:8]
        try:
            for variant in config.variants:
                fleet, image = self._fleet(name, deployment_id, variant)
                fleet.start(int(variant.get("InitialInstanceCount", 1)))
                started.append(LiveVariant(variant["VariantName"], fleet,
                                           float(variant.get("InitialVariantWeight", 1.0)),
                                           image))
        except BaseException:
            for live in started:
                live.fleet.stop()
            raise
        return Deployment(config_name, {v.name: v for v in started},
                          CapturePolicy.from_config(dict(config.data_capture or {})))

    def _fleet(self, name: str, deployment_id: str,
               variant: Mapping[str, Any]) -> tuple[Fleet, str]:
        model = self.catalog.model(variant["ModelName"])
        serving = prepare_model(model, self.artifacts)
        group = f"/aws/sagemaker/Endpoints/{name}"

        def log_lines(stream: str, lines: list[str]) -> None:
            self.logs.put_events(group, stream, [(int(time.time() * 1000), line)
                                                 for line in lines])

        stream = f"{variant['VariantName']}/requirements"
        try:
            python = serving_python(serving, self.envs,
                                    lambda line: log_lines(stream, [line]))
        except errors.ClientError as exc:
            raise FleetFailed(f"variant {variant['VariantName']}: {exc.message} (log stream "
                              f"{stream})") from exc
        owner = f"{WORKER_KEY_PREFIX}{name}/{deployment_id}/{variant['VariantName']}"
        spec = FleetSpec(name, variant["VariantName"], serving.runtime, serving.model_dir,
                         serving.code_dir, serving.entry_point,
                         {**serving.environment, **self.worker_keys(owner, model)},
                         self.settings.home / "endpoints" / name / deployment_id /
                         variant["VariantName"], (self.settings.home,), python,
                         (self.settings.envs_dir,), variant.get("InstanceType", "ml.m5.large"))
        identity = self.identity
        revoke = (lambda: identity.revoke(owner)) if identity is not None else None
        def worker_lines(index: int, lines: list[str]) -> None:
            log_lines(f"{variant['VariantName']}/worker-{index}", lines)
        return Fleet(spec, self.sandbox, worker_lines, self.executor, revoke), serving.image

    def worker_keys(self, owner: str, model: Model) -> dict[str, str]:
        """The environment that gives a model's workers (an endpoint's or a transform job's) a
        key of their own, acting for the model's ExecutionRoleArn as the model, owned by
        ``owner`` (who revokes it)."""
        if self.identity is None:
            return {}
        creds = self.identity.issue(owner, model.execution_role_arn, model.name)
        region = self.settings.region
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region, **creds.environment()}

    # --- counting ---------------------------------------------------------------------------

    def count(self, name: str) -> None:
        calls, _ = self._counts.get(name, (0, 0.0))
        self._counts[name] = (calls + 1, time.time())

    def stop_idle(self) -> None:
        """Have you shut down your endpoints?  cove does, when told to (idle_timeout)."""
        if not self.settings.idle_timeout:
            return
        cutoff = time.time() - self.settings.idle_timeout
        with self.db.read() as conn:
            rows = conn.execute(select(endpoints.c.name, endpoints.c.last_invocation,
                                       endpoints.c.describe)).all()
        for name, last, describe in rows:
            endpoint = load_endpoint(dict(describe))
            recent = self._counts.get(name, (0, 0.0))[1]
            used = max(last or 0.0, recent, endpoint.modified)
            if endpoint.status.serves() and used < cutoff:
                log.warning("endpoint %s was idle for %.0f s: stopped (OutOfService)", name,
                            time.time() - used)
                self.take_out_of_service(name)

    def take_out_of_service(self, name: str) -> None:
        """Stop an InService endpoint's workers, keeping its row (OutOfService); as an idle
        stop, UpdateEndpoint (or an invocation after ``cove endpoints start``) starts it again."""
        current = self.endpoint(name)
        if not current.status.serves():
            raise errors.ValidationError(f"Cannot stop endpoint \"{name}\": it is "
                                         f"{current.status.value}, not InService.")
        with self._lock:
            deployment = self.live.pop(name, None)
        if deployment is not None:
            deployment.stop()
        self.change(name, lambda e: e.moved(EndpointStatus.OUT_OF_SERVICE))
        self.history.record(name, EndpointStatus.OUT_OF_SERVICE.value, current.config_name)

    def background_work(self) -> dict[str, Callable[[], None]]:
        """What the server runs every second, each turn supervised on its own: one failing
        (a deleted capture bucket) stops none of the others."""
        return {"endpoint data capture": self.capturer.flush,
                "endpoint traffic charts": self.traffic.flush,
                "endpoint idle stop": self.stop_idle,
                "endpoint invocation counts": self.flush_invocations}

    def flush_invocations(self) -> None:
        counts, self._counts = self._counts, {}
        if not counts:
            return
        with self.db.write() as conn:
            for name, (calls, last) in counts.items():
                conn.execute(update(endpoints).where(endpoints.c.name == name).values(
                    invocations=endpoints.c.invocations + calls, last_invocation=last))


def _reason(exc: Exception, name: str) -> str:
    """A FailureReason for ``exc``; an error cove did not expect is logged with its traceback."""
    if isinstance(exc, errors.CoveError):
        return exc.message
    if isinstance(exc, OSError):
        return str(exc)
    log.error("deploying endpoint %s hit an internal error", name, exc_info=exc)
    return f"InternalServerError: cove hit {type(exc).__name__} ({exc}); the server log has " \
           "the details."


def _rolled_back(config_name: str, reason: str) -> str:
    return f"The update to {config_name} failed and was rolled back: {reason}"


def _in_service(endpoint: Endpoint, deployment: Deployment,
                keep_reason: bool = False) -> Endpoint:
    now = time.time()
    return endpoint.serving(deployment.config_name, tuple(
        DeployedVariant(v.name, v.image, now, v.weight, len(v.fleet.ready_workers()),
                        len(v.fleet.workers)) for v in deployment.variants.values()),
        keep_reason)


def _weights(deployment: Deployment) -> str:
    return ", ".join(f"{v.name}: weight {v.weight:g}, {len(v.fleet.workers)} instance(s)"
                     for v in deployment.variants.values())
