"""Endpoints: their rows in the metadata database and the live fleets that serve them.

The row is the truth (what DescribeEndpoint returns); the fleets are derived from it and are
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from cove import errors
from cove.executors import Executor, Sandbox
from cove.hosting._artifacts import ArtifactCache
from cove.hosting._capture import CapturePolicy, Capturer
from cove.hosting._fleet import Fleet, FleetFailed, FleetSpec
from cove.hosting._history import History
from cove.hosting._models import prepare_model, serving_python
from cove.hosting._traffic import Traffic
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import endpoint_configs, endpoints, models
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
    def __init__(self, db: Database, artifacts: ArtifactCache, logs: LogStore,
                 sandbox: Sandbox, settings: HostingSettings,
                 executor: Executor | None = None, identity: Identity | None = None) -> None:
        self.db, self.artifacts, self.logs, self.sandbox = db, artifacts, logs, sandbox
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

    def get(self, table: Any, name: str, kind: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(table.c.describe).where(table.c.name == name)).first()
        if row is None:
            raise errors.ValidationError(f"Could not find {kind} \"{name}\".")
        return dict(row.describe)

    def usage(self) -> dict[str, tuple[int, float | None]]:
        """Per endpoint: invocations so far and when the last one came (epoch seconds)."""
        c = endpoints.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.name, c.invocations, c.last_invocation)).all()
        return {name: (calls or 0, last) for name, calls, last in rows}

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(endpoints).where(endpoints.c.name == name)).first()
        if row is None:
            raise errors.ValidationError(f"Could not find endpoint \"{name}\".")
        return dict(row.describe)

    def change(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with self.db.write() as conn:
            row = conn.execute(select(endpoints.c.describe).where(endpoints.c.name == name)).first()
            if row is None:
                raise errors.ValidationError(f"Could not find endpoint \"{name}\".")
            describe = dict(row.describe)
            mutate(describe)
            describe["LastModifiedTime"] = time.time()
            conn.execute(update(endpoints).where(endpoints.c.name == name).values(
                describe=describe, status=describe["EndpointStatus"]))
        return describe

    # --- lifecycle --------------------------------------------------------------------------

    def create(self, describe: dict[str, Any]) -> None:
        with self.db.write() as conn:
            if conn.execute(select(endpoints.c.name).where(
                    endpoints.c.name == describe["EndpointName"])).first():
                raise errors.ValidationError(
                    f"Cannot create already existing endpoint \"{describe['EndpointArn']}\".")
            conn.execute(endpoints.insert().values(
                name=describe["EndpointName"], arn=describe["EndpointArn"], status="Creating",
                creation_time=describe["CreationTime"], describe=describe))
        self._background(self._deploy_new, describe["EndpointName"],
                         describe["EndpointConfigName"])

    def update(self, name: str, config_name: str) -> None:
        current = self.describe_endpoint(name)
        if current["EndpointStatus"] == "OutOfService":  # stopped when idle: start it again
            self.get(endpoint_configs, config_name, "endpoint configuration")
            self.change(name, lambda d: d.update(EndpointStatus="Creating"))
            self._background(self._deploy_new, name, config_name)
            return
        if current["EndpointStatus"] != "InService":
            raise errors.ValidationError(
                f"Cannot update in-progress endpoint \"{current['EndpointArn']}\": it is "
                f"{current['EndpointStatus']}.")
        self.get(endpoint_configs, config_name, "endpoint configuration")
        # The target is in the row before the 200: a crash mid-update resumes it (recover).
        self.change(name, lambda d: d.update(EndpointStatus="Updating", PendingDeploymentSummary={
            "EndpointConfigName": config_name, "StartTime": time.time()}))
        self._background(self._deploy_update, name, config_name)

    def update_weights(self, name: str, desired: list[dict[str, Any]]) -> None:
        current = self.describe_endpoint(name)
        deployment = self.live.get(name)
        if current["EndpointStatus"] != "InService" or deployment is None:
            raise errors.ValidationError(f"Cannot update endpoint \"{name}\": it is "
                                         f"{current['EndpointStatus']}.")
        for item in desired:
            if item["VariantName"] not in deployment.variants:
                raise errors.ValidationError(
                    f"The variant(s) \"[{item['VariantName']}]\" is/are not present in the "
                    f"endpoint \"{name}\".")
        self.change(name, lambda d: d.update(EndpointStatus="Updating"))
        self._background(self._apply_weights, name, desired)

    def delete(self, name: str) -> None:
        self.describe_endpoint(name)
        self.change(name, lambda d: d.update(EndpointStatus="Deleting"))
        with self._lock:
            deployment = self.live.pop(name, None)
        if deployment is not None:
            deployment.stop()
        with self.db.write() as conn:
            conn.execute(delete(endpoints).where(endpoints.c.name == name))
        self.traffic.forget(name)
        self.history.forget(name)

    def recover(self) -> None:
        """After a restart, bring every endpoint that was serving (or starting) back."""
        if self.identity is not None:  # the workers that held these keys died with cove
            self.identity.revoke_prefix(WORKER_KEY_PREFIX)
        with self.db.read() as conn:
            rows = conn.execute(select(endpoints.c.name, endpoints.c.describe)).all()
        for name, describe in rows:
            status = describe["EndpointStatus"]
            if status == "Deleting":
                with self.db.write() as conn:
                    conn.execute(delete(endpoints).where(endpoints.c.name == name))
            elif status == "Updating" and describe.get("PendingDeploymentSummary"):
                self._background(self._resume_update, name, describe["EndpointConfigName"],
                                 describe["PendingDeploymentSummary"]["EndpointConfigName"])
            elif status in ("InService", "Creating", "Updating", "SystemUpdating"):
                self.change(name, lambda d: d.update(EndpointStatus="Creating"))
                self._background(self._deploy_new, name, describe["EndpointConfigName"], True)

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
        self.history.record(name, "Creating", config_name)
        try:
            deployment = self.build(name, config_name)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the endpoint ends Failed
            reason = _reason(exc, name)
            self.change(name, lambda d: d.update(EndpointStatus="Failed", FailureReason=reason))
            self.history.record(name, "Failed", config_name, reason)
            return
        self._go_live(name, deployment, restored)

    def _go_live(self, name: str, deployment: Deployment, restored: bool = False) -> None:
        with self._lock:
            self.live[name] = deployment
        self.change(name, lambda d: _in_service(d, deployment, keep_reason=restored))
        self.history.record(name, "InService", deployment.config_name, _weights(deployment))

    def _resume_update(self, name: str, old_config: str, new_config: str) -> None:
        """After a crash mid-update (nothing is live): finish the acknowledged update, or, if
        the new configuration cannot start, roll back to the old one and say so."""
        self.history.record(name, "Updating", new_config, "resumed after a restart")
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
            self.change(name, lambda d: _failed_update(d, "Failed", both))
            self.history.record(name, "Failed", old_config, both)
            return
        self._go_live(name, deployment)
        self.change(name, lambda d: d.update(FailureReason=_rolled_back(new_config, reason)))

    def _deploy_update(self, name: str, config_name: str) -> None:
        self.history.record(name, "Updating", config_name)
        try:
            deployment = self.build(name, config_name)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the old fleets serve on
            reason = _reason(exc, name)
            self.history.record(name, "UpdateRolledBack", config_name, reason)
            self.change(name, lambda d: _failed_update(d, "InService",
                                                       _rolled_back(config_name, reason)))
            return
        with self._lock:
            old = self.live.get(name)
            self.live[name] = deployment  # the switch: new requests go to the new fleets
        self.change(name, lambda d: _in_service(d, deployment))
        self.history.record(name, "InService", config_name, _weights(deployment))
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

        def mutate(d: dict[str, Any]) -> None:
            _in_service(d, deployment)
            if problem:
                d["FailureReason"] = problem

        self.change(name, mutate)
        self.history.record(name, "WeightsChanged", deployment.config_name,
                            "; ".join(filter(None, [_weights(deployment), problem])))

    def build(self, name: str, config_name: str) -> Deployment:
        """Start the fleets of ``config_name`` for endpoint ``name``; all or nothing."""
        config = self.get(endpoint_configs, config_name, "endpoint configuration")
        started: list[LiveVariant] = []
        deployment_id = uuid.uuid4().hex[:8]
        try:
            for variant in config["ProductionVariants"]:
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
                          CapturePolicy.from_config(config.get("DataCaptureConfig", {})))

    def _fleet(self, name: str, deployment_id: str,
               variant: dict[str, Any]) -> tuple[Fleet, str]:
        model = self.get(models, variant["ModelName"], "model")
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
        return Fleet(spec, self.sandbox, log_lines, self.executor, revoke), serving.image

    def worker_keys(self, owner: str, model: dict[str, Any]) -> dict[str, str]:
        """The environment that gives a model's workers (an endpoint's or a transform job's) a
        key of their own, acting for the model's ExecutionRoleArn as the model, owned by
        ``owner`` (who revokes it)."""
        if self.identity is None:
            return {}
        creds = self.identity.issue(owner, model.get("ExecutionRoleArn", ""),
                                    model["ModelName"])
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
            recent = self._counts.get(name, (0, 0.0))[1]
            used = max(last or 0.0, recent, describe["LastModifiedTime"])
            if describe["EndpointStatus"] == "InService" and used < cutoff:
                log.warning("endpoint %s was idle for %.0f s: stopped (OutOfService)", name,
                            time.time() - used)
                self.take_out_of_service(name)

    def take_out_of_service(self, name: str) -> None:
        """Stop an InService endpoint's workers, keeping its row (OutOfService); as an idle
        stop, UpdateEndpoint (or an invocation after ``cove endpoints start``) starts it again."""
        current = self.describe_endpoint(name)
        if current["EndpointStatus"] != "InService":
            raise errors.ValidationError(f"Cannot stop endpoint \"{name}\": it is "
                                         f"{current['EndpointStatus']}, not InService.")
        with self._lock:
            deployment = self.live.pop(name, None)
        if deployment is not None:
            deployment.stop()
        self.change(name, lambda d: d.update(EndpointStatus="OutOfService"))
        self.history.record(name, "OutOfService", current["EndpointConfigName"])

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


def _failed_update(d: dict[str, Any], status: str, reason: str) -> None:
    d.update(EndpointStatus=status, FailureReason=reason)
    d.pop("PendingDeploymentSummary", None)


def _in_service(d: dict[str, Any], deployment: Deployment, keep_reason: bool = False) -> None:
    now = time.time()
    d["EndpointStatus"] = "InService"
    d["EndpointConfigName"] = deployment.config_name
    if not keep_reason:
        d.pop("FailureReason", None)
    d.pop("PendingDeploymentSummary", None)
    d["ProductionVariants"] = [{
        "VariantName": v.name,
        "DeployedImages": [{"SpecifiedImage": v.image, "ResolvedImage": v.image,
                            "ResolutionTime": now}],
        "CurrentWeight": v.weight, "DesiredWeight": v.weight,
        "CurrentInstanceCount": len(v.fleet.ready_workers()),
        "DesiredInstanceCount": len(v.fleet.workers),
    } for v in deployment.variants.values()]


def _weights(deployment: Deployment) -> str:
    return ", ".join(f"{v.name}: weight {v.weight:g}, {len(v.fleet.workers)} instance(s)"
                     for v in deployment.variants.values())
