"""Scoped keys in-process: they act for their role, expire, and die with their owner or role."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cove import errors
from cove.config import Credentials
from cove.iam import DEFAULT_ROLE_NAME, Roles
from cove.identity import Identity
from cove.meta import Database

ACCOUNT = "123456789012"


@pytest.fixture
def identity(tmp_path: Path) -> Identity:
    db = Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True)
    roles = Roles(db, ACCOUNT)
    roles.ensure_default()
    return Identity(db, Credentials("AKIAROOT", "s" * 40, ACCOUNT), roles)


def test_keys_act_for_their_role_and_session(identity: Identity) -> None:
    creds = identity.issue("arn:job", f"arn:aws:iam::{ACCOUNT}:role/{DEFAULT_ROLE_NAME}", "job")
    principal = identity.lookup(creds.access_key_id)
    assert principal is not None and not identity.is_root(principal)
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{DEFAULT_ROLE_NAME}/job"
    assert identity.role_of(creds.access_key_id) == DEFAULT_ROLE_NAME
    identity.revoke("arn:job")
    assert identity.lookup(creds.access_key_id) is None


def test_every_issued_key_has_its_own_session_token(identity: Identity) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{DEFAULT_ROLE_NAME}"
    a, b = identity.issue("a", role, "a"), identity.issue("b", role, "b")
    assert a.session_token and b.session_token and a.session_token != b.session_token
    assert a.environment()["AWS_SESSION_TOKEN"] == a.session_token
    principal = identity.lookup(a.access_key_id)
    assert principal is not None and principal.session_token == a.session_token
    root = identity.lookup("AKIAROOT")
    assert root is not None and root.session_token is None  # the long-term key needs none
    # the token is keyed by cove's root secret: another cove (or another secret) disagrees
    other = Identity(identity.db, Credentials("AKIAROOT", "t" * 40, ACCOUNT), identity.roles)
    assert other.session_token(a.access_key_id) != a.session_token


def test_expired_keys_act_for_nobody_and_are_swept(identity: Identity) -> None:
    creds = identity.issue("sts:x", f"arn:aws:iam::{ACCOUNT}:role/{DEFAULT_ROLE_NAME}", "s",
                           expires=time.time() - 1)
    principal = identity.lookup(creds.access_key_id)  # known, so the edge can say it expired
    assert principal is not None and principal.expires is not None
    assert principal.expires < time.time()
    assert identity.role_of(creds.access_key_id) is None
    identity.revoke_all(["someone-else"])  # any revocation sweeps expired keys
    assert identity._scoped(creds.access_key_id) is None


def test_revoke_prefix_ends_only_matching_owners(identity: Identity) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{DEFAULT_ROLE_NAME}"
    a = identity.issue("endpoint-workers:ep/1/v", role, "m")
    b = identity.issue("endpoint-workers%other", role, "m")  # LIKE wildcards are literal
    identity.revoke_prefix("endpoint-workers:")
    assert identity.lookup(a.access_key_id) is None
    assert identity.lookup(b.access_key_id) is not None


def test_assumable_checks_existence_and_trust(identity: Identity) -> None:
    identity.roles.create_role("lambda-only", json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}))
    assert identity.assumable(f"arn:aws:iam::{ACCOUNT}:role/lambda-only",
                              "lambda.amazonaws.com").name == "lambda-only"
    for arn in (f"arn:aws:iam::{ACCOUNT}:role/lambda-only", f"arn:aws:iam::{ACCOUNT}:role/none",
                "not an arn"):
        with pytest.raises(errors.ValidationError, match="Could not assume role"):
            identity.assumable(arn, "sagemaker.amazonaws.com")


def test_a_deleted_roles_keys_may_do_nothing(identity: Identity) -> None:
    roles = identity.roles
    roles.create_role("gone", roles.default_trust_policy())
    roles.put_role_policy("gone", "all", json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    assert roles.policies_of("gone")
    roles.delete_role_policy("gone", "all")
    roles.delete_role("gone")
    assert roles.policies_of("gone") == ()
