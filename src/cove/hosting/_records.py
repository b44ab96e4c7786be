"""Models, endpoint configurations and endpoints as frozen records, and the endpoint lifecycle.

An endpoint moves only along its lifecycle (:meth:`EndpointStatus.can_become`); the service asks
a status what it may become instead of comparing strings, and :meth:`Endpoint.moved` refuses
any other move.  What DescribeModel / DescribeEndpointConfig / DescribeEndpoint return is
rendered from these records in ``_api.py``; ``_rows.py`` keeps them in the layout earlier
versions stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cove.lifecycles import EndpointStatus as EndpointStatus  # its home; re-exported


@dataclass(frozen=True)
class Model:
    name: str
    arn: str
    created: float
    #: The PrimaryContainer as served (Image, ModelDataUrl, Environment, Mode, ...).
    container: Mapping[str, Any]
    execution_role_arn: str = ""
    network_isolation: bool = False

    @property
    def image(self) -> str:
        return str(self.container.get("Image", ""))

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.container.get("Environment", {}))

    @property
    def model_data_url(self) -> str:
        return str(self.container.get("ModelDataUrl", ""))


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    arn: str
    created: float
    variants: tuple[Mapping[str, Any], ...]  # ProductionVariants, InitialVariantWeight set
    data_capture: Mapping[str, Any] | None = None

    @property
    def model_names(self) -> list[str]:
        return [str(v["ModelName"]) for v in self.variants]


@dataclass(frozen=True)
class DeployedVariant:
    """A variant as it serves: what DescribeEndpoint's ProductionVariants show."""

    name: str
    image: str
    resolved: float
    weight: float
    current_instances: int
    desired_instances: int


@dataclass(frozen=True)
class Capture:
    """The endpoint's DataCaptureConfig summary."""

    enabled: bool
    sampling: int
    destination: str


@dataclass(frozen=True)
class PendingUpdate:
    """UpdateEndpoint's target, stored before the 200 so a crash mid-update resumes it."""

    config_name: str
    started: float


@dataclass(frozen=True)
class Endpoint:
    name: str
    arn: str
    config_name: str
    status: EndpointStatus
    created: float
    modified: float
    failure_reason: str = ""
    pending: PendingUpdate | None = None
    variants: tuple[DeployedVariant, ...] = ()
    capture: Capture | None = None

    @property
    def status_value(self) -> str:
        return self.status.value

    def touched(self, now: float) -> Endpoint:
        return replace(self, modified=now)

    def moved(self, status: EndpointStatus, **changes: Any) -> Endpoint:
        """The endpoint in ``status`` (staying is always allowed); ValidationException if its
        lifecycle forbids the move."""
        if status is not self.status:
            self.status.check(status, f"Endpoint \"{self.arn}\"")
        return replace(self, status=status, **changes)

    def serving(self, config_name: str, variants: tuple[DeployedVariant, ...],
                keep_reason: bool = False) -> Endpoint:
        """InService on ``config_name``'s fleets."""
        return self.moved(EndpointStatus.IN_SERVICE, config_name=config_name, variants=variants,
                          pending=None,
                          failure_reason=self.failure_reason if keep_reason else "")

    def failed(self, status: EndpointStatus, reason: str) -> Endpoint:
        return self.moved(status, failure_reason=reason, pending=None)
