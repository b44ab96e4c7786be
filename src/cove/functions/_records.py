"""A function as a frozen record, and Lambda's two lifecycles of a function.

``State`` (:class:`FunctionState`) is whether the function can run::

    Pending ──→ Active ──(idle)──→ Inactive ──(invoked)──→ Pending
       └──→ Failed ──(new code)──→ Pending

``LastUpdateStatus`` (:class:`UpdateStatus`) is how the last change went: InProgress →
Successful | Failed.  cove checks and stores a function's code before CreateFunction or an
update answers, so a record it makes is Active and its last update Successful; the statuses a
function may pass through on Lambda are here so that every move is checked the same way
(:meth:`FunctionState.check`) and a record read from the database is only ever one of them.
GetFunctionConfiguration's document is rendered from the record by ``_rows.configuration``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.lifecycles import Lifecycle, moves


class FunctionState(Lifecycle):
    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"

    def is_invocable(self) -> bool:
        """Invocations run now (an Inactive function is woken by its first one)."""
        return self in (FunctionState.ACTIVE, FunctionState.INACTIVE)

    def is_updatable(self) -> bool:
        """Lambda refuses changes while a function is being set up (Pending)."""
        return self is not FunctionState.PENDING

    def refusal(self, other: FunctionState, arn: str) -> errors.CoveError:
        """Lambda's ResourceConflictException."""
        return errors.ResourceConflictException(
            f"The operation cannot be performed at this time. The function {arn} is in "
            f"state {self.value}; it cannot become {other.value}.", Type="User")


_F = FunctionState
moves(FunctionState, {
    _F.PENDING: frozenset({_F.ACTIVE, _F.FAILED}),
    _F.ACTIVE: frozenset({_F.INACTIVE, _F.FAILED}),
    # An invocation (or an update) of an Inactive function sets it up again.
    _F.INACTIVE: frozenset({_F.PENDING, _F.ACTIVE, _F.FAILED}),
    _F.FAILED: frozenset({_F.PENDING}),
})


class UpdateStatus(Lifecycle):
    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"

    def is_finished(self) -> bool:
        return self is not UpdateStatus.IN_PROGRESS


# A finished update may be followed by a new one; one under way only ends.
_U = UpdateStatus
moves(UpdateStatus, {_U.IN_PROGRESS: frozenset({_U.SUCCESSFUL, _U.FAILED}),
                     _U.SUCCESSFUL: frozenset({_U.IN_PROGRESS}),
                     _U.FAILED: frozenset({_U.IN_PROGRESS})})


@dataclass(frozen=True)
class Function:
    name: str
    arn: str
    runtime: str
    role: str
    handler: str
    description: str
    timeout: int  # seconds
    memory: int  # MB
    modified: float  # LastModified, to the millisecond
    revision_id: str
    code_sha256: str  # CodeSha256: base64 of the zip's SHA-256, as Lambda shows it
    code_size: int
    code_key: str  # hex SHA-256: the zip's file under functions/code/
    access_key_id: str  # the key pair its workers sign with
    created: float
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    state: FunctionState = FunctionState.ACTIVE
    update_status: UpdateStatus = UpdateStatus.SUCCESSFUL
    #: The resource policy's statements (AddPermission), in order.
    policy: tuple[Mapping[str, Any], ...] = ()

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    def updated(self, now: float, revision_id: str, **changes: Any) -> Function:
        """The function after a successful change (new revision); Lambda's conflict error
        while it cannot take one."""
        if not self.state.is_updatable():
            raise errors.ResourceConflictException(
                f"The operation cannot be performed at this time. An update is in progress "
                f"for resource: {self.arn}", Type="User")
        return replace(self, modified=now, revision_id=revision_id,
                       update_status=UpdateStatus.SUCCESSFUL, **changes)

    def moved(self, state: FunctionState) -> Function:
        """The function in ``state``, along its lifecycle (ResourceConflictException)."""
        return replace(self, state=self.state.check(state, self.arn))

    def permitted(self, statement: Mapping[str, Any]) -> Function:
        """With one more policy statement; ResourceConflict if its Sid is taken."""
        if any(s["Sid"] == statement["Sid"] for s in self.policy):
            raise errors.ResourceConflictException(
                f"The statement id ({statement['Sid']}) provided already exists. Please provide "
                "a new statement id, or remove the existing statement.")
        return replace(self, policy=(*self.policy, MappingProxyType(dict(statement))))
