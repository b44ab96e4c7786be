"""STS: who am I (GetCallerIdentity) and AssumeRole, whose keys act for the role and expire."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from cove import errors
from cove.iam._api import iso, required, tag
from cove.iam._policy import trusts
from cove.iam._roles import Roles, role_name_of
from cove.wire import Call, QueryService

if TYPE_CHECKING:
    from cove.identity import Identity

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
Params = dict[str, str]


class StsApi:
    def __init__(self, identity: Identity, roles: Roles) -> None:
        self.identity = identity
        self.roles = roles

    def service(self) -> QueryService:
        return QueryService("sts", NAMESPACE, {"GetCallerIdentity": self.get_caller_identity,
                                               "AssumeRole": self.assume_role})

    def get_caller_identity(self, params: Params, call: Call) -> str:
        p = call.principal
        role = self.identity.role_of(p.access_key_id)
        user_id = p.access_key_id
        # (a role deleted under a live key: the key id still names the caller)
        if role is not None and any(r.name == role for r in self.roles.roles()):
            user_id = f"{self.roles.role(role).role_id}:{p.arn.rsplit('/', 1)[1]}"
        return tag("Arn", p.arn) + tag("UserId", user_id) + tag("Account", p.account_id)

    def assume_role(self, params: Params, call: Call) -> str:
        role_arn, session = required(params, "RoleArn"), required(params, "RoleSessionName")
        if not re.fullmatch(r"[\w+=,.@-]{2,64}", session):
            raise errors.ValidationError(
                f"1 validation error detected: Value {session!r} at 'roleSessionName' failed "
                r"to satisfy constraint: Member must satisfy regular expression pattern: "
                r"[\w+=,.@-]* and have length 2..64")
        if params.get("Policy") or listed_any(params, "PolicyArns"):
            raise errors.ValidationError(
                "Session policies (Policy, PolicyArns) are not supported by cove: narrow the "
                "role itself, or assume a narrower role.")
        role = self.roles.role(role_name_of(role_arn))
        duration = int(params.get("DurationSeconds") or 3600)
        if not 900 <= duration <= role.max_session_duration:
            raise errors.ValidationError(
                f"The requested DurationSeconds exceeds the MaxSessionDuration set for this "
                f"role ({role.max_session_duration}) or is below 900.")
        if not self._trusted(call, role.name):
            raise errors.AccessDenied(
                f"User: {call.principal.arn} is not authorized to perform: sts:AssumeRole on "
                f"resource: {role.arn}")
        expires = time.time() + duration
        creds = self.identity.issue(f"sts:{role.name}/{session}", role.arn, session, expires)
        arn = self.identity.assumed_arn(role.name, session)
        return ("<Credentials>" + tag("AccessKeyId", creds.access_key_id)
                + tag("SecretAccessKey", creds.secret_access_key)
                + tag("SessionToken", creds.session_token) + tag("Expiration", iso(expires))
                + "</Credentials><AssumedRoleUser>"
                + tag("AssumedRoleId", f"{role.role_id}:{session}") + tag("Arn", arn)
                + "</AssumedRoleUser>" + tag("PackedPolicySize", 0))

    def _trusted(self, call: Call, role_name: str) -> bool:
        policy = self.roles.trust_policy(self.roles.role(role_name))
        account = call.principal.account_id
        callers = [f"arn:aws:iam::{account}:root", call.principal.arn]
        caller_role = self.identity.role_of(call.principal.access_key_id)
        if caller_role is not None:
            callers.append(f"arn:aws:iam::{account}:role/{caller_role}")
        return any(trusts(policy, "AWS", caller) for caller in callers)


def listed_any(params: Params, name: str) -> bool:
    return any(key.startswith(name + ".") for key in params)
