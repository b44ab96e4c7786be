"""Function records: both of Lambda's lifecycles allow exactly their moves, and a row written
by cove before functions were records reads back as a record that renders the same
FunctionConfiguration document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from cove import errors
from cove.functions import Function, FunctionState, UpdateStatus, configuration
from cove.functions._rows import FunctionRows
from cove.meta import Database
from cove.meta.tables import functions as functions_table

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
F = FunctionState
ALLOWED = {(F.PENDING, F.ACTIVE), (F.PENDING, F.FAILED), (F.ACTIVE, F.INACTIVE),
           (F.ACTIVE, F.FAILED), (F.INACTIVE, F.PENDING), (F.INACTIVE, F.ACTIVE),
           (F.INACTIVE, F.FAILED), (F.FAILED, F.PENDING)}
U = UpdateStatus
UPDATES = {(U.IN_PROGRESS, U.SUCCESSFUL), (U.IN_PROGRESS, U.FAILED),
           (U.SUCCESSFUL, U.IN_PROGRESS), (U.FAILED, U.IN_PROGRESS)}

#: A row as cove wrote it before records (``Functions.create`` of that version).
STORED: dict[str, Any] = {
    "FunctionName": "fn", "FunctionArn": ARN, "Runtime": "python3.11",
    "Role": "arn:aws:iam::123456789012:role/R", "Handler": "lambda_function.handler",
    "Description": "", "Timeout": 5, "MemorySize": 256,
    "LastModified": "2026-11-24T05:40:00.123+0000", "Version": "$LATEST",
    "TracingConfig": {"Mode": "PassThrough"}, "RevisionId": "3f6d0e6a-rev",
    "State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip",
    "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
    "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"},
    "Environment": {"Variables": {"GREETING": "hi"}},
    "CodeSha256": "q1w2e3=", "CodeSize": 321}


@pytest.mark.parametrize("before", list(F))
@pytest.mark.parametrize("after", list(F))
def test_function_state_moves_only_along_its_lifecycle(before: F, after: F) -> None:
    assert before.can_become(after) is ((before, after) in ALLOWED)
    if (before, after) in ALLOWED:
        assert before.check(after, ARN) is after
    else:
        with pytest.raises(errors.ResourceConflictException, match=f"state {before.value}"):
            before.check(after, ARN)


@pytest.mark.parametrize("before", list(U))
@pytest.mark.parametrize("after", list(U))
def test_update_status_moves_only_along_its_lifecycle(before: U, after: U) -> None:
    assert before.can_become(after) is ((before, after) in UPDATES)


def test_function_state_predicates() -> None:
    assert [s for s in F if s.is_invocable()] == [F.ACTIVE, F.INACTIVE]
    assert [s for s in F if not s.is_updatable()] == [F.PENDING]
    assert [s for s in U if not s.is_finished()] == [U.IN_PROGRESS]


def _stored_row(tmp_path: Path) -> FunctionRows:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    with db.write() as conn:
        conn.execute(insert(functions_table).values(
            name="fn", configuration=STORED, code_sha="ab" * 32, access_key_id="AKIAFN",
            policy=[{"Sid": "s1", "Effect": "Allow"}], created=1764000000.5))
    return FunctionRows(db, lambda name: errors.ResourceNotFoundException(name))


def test_a_row_stored_before_records_reads_back_unchanged(tmp_path: Path) -> None:
    rows = _stored_row(tmp_path)
    fn = rows.get("fn")
    assert (fn.state, fn.update_status) == (F.ACTIVE, U.SUCCESSFUL)
    assert (fn.timeout, fn.memory, dict(fn.variables)) == (5, 256, {"GREETING": "hi"})
    assert (fn.code_key, fn.access_key_id, fn.created) == ("ab" * 32, "AKIAFN", 1764000000.5)
    assert configuration(fn) == STORED
    # A change writes the same layout back: the next reader (or an older cove) sees it.
    rows.change("fn", lambda f: f.permitted({"Sid": "s2", "Effect": "Allow"}))
    again = rows.get("fn")
    assert configuration(again) == STORED and [s["Sid"] for s in again.policy] == ["s1", "s2"]


def test_a_pending_function_refuses_updates_and_a_taken_sid(tmp_path: Path) -> None:
    fn: Function = _stored_row(tmp_path).get("fn")
    with pytest.raises(errors.ResourceConflictException, match="statement id \\(s1\\)"):
        fn.permitted({"Sid": "s1"})
    updated = fn.updated(1764000100.0, "rev-2", timeout=9)
    assert (updated.timeout, updated.revision_id, updated.update_status) == (
        9, "rev-2", U.SUCCESSFUL)
    pending = fn.moved(F.FAILED).moved(F.PENDING)
    with pytest.raises(errors.ResourceConflictException, match="update is in progress"):
        pending.updated(1764000200.0, "rev-3")
    with pytest.raises(errors.ResourceConflictException):
        pending.moved(F.INACTIVE)
