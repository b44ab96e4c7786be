"""The one base of every status enum: its moves are a complete table, and a refused move raises
the lifecycle's own error."""

from __future__ import annotations

import pytest

from cove import errors
from cove.functions._records import FunctionState, UpdateStatus
from cove.lifecycles import (
    EndpointStatus,
    ExecutionStatus,
    JobStatus,
    Lifecycle,
    NotebookInstanceStatus,
    moves,
)
from cove.tuning._records import TrialState

#: Each lifecycle, and the error its API gives a move it does not allow.
REFUSALS: dict[type[Lifecycle], type[errors.CoveError]] = {
    JobStatus: errors.ValidationError, EndpointStatus: errors.ValidationError,
    NotebookInstanceStatus: errors.ValidationError, ExecutionStatus: errors.ValidationError,
    FunctionState: errors.ResourceConflictException, UpdateStatus: errors.ValidationError,
    TrialState: errors.ServerError}


def test_every_lifecycle_refuses_with_its_own_error() -> None:
    cove_s = {c for c in Lifecycle.__subclasses__() if c.__module__.startswith("cove.")}
    assert set(REFUSALS) == cove_s  # a new lifecycle is named here
    for lifecycle, error in REFUSALS.items():
        refused = [(a, b) for a in lifecycle for b in lifecycle if not a.can_become(b)]
        assert refused, lifecycle
        for before, after in refused:
            with pytest.raises(error) as caught:
                before.check(after, "subject")
            assert type(caught.value) is error
            assert before.value in str(caught.value) and after.value in str(caught.value)


def test_a_lifecycle_must_name_every_status() -> None:
    class Light(Lifecycle):
        ON = "On"
        OFF = "Off"

    with pytest.raises(TypeError, match="missing: OFF"):
        moves(Light, {Light.ON: frozenset({Light.OFF})})
    moves(Light, {Light.ON: frozenset({Light.OFF}), Light.OFF: frozenset()})
    assert Light.ON.check(Light.OFF, "the light") is Light.OFF
    with pytest.raises(errors.ValidationError, match="the light is Off; it cannot become On"):
        Light.OFF.check(Light.ON, "the light")
