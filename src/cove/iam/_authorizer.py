"""The edge's question after a signature checks out: may this principal do this?

The root key may do anything.  Any other key acts for a role: each permission its request needs
(``cove.iam._actions``) must be allowed by the role's policies, or the request is refused in the
service's own shape with AWS's wording.  Whoever calls, a request that names a role for the
code it creates (RoleArn, ExecutionRoleArn, a function's Role) names one that exists and trusts
the service, as SageMaker and Lambda check at create time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cove import errors
from cove.iam import _actions as actions
from cove.iam._actions import ROLE_FIELDS, Access, Wire
from cove.iam._policy import evaluate
from cove.iam._roles import Roles
from cove.identity import ANONYMOUS
from cove.wire import Call, Service

if TYPE_CHECKING:
    from cove.identity import Identity


class Authorizer:
    def __init__(self, identity: Identity, roles: Roles) -> None:
        self.identity = identity
        self.roles = roles

    def __call__(self, call: Call, service: Service, body: bytes | None) -> None:
        if self.identity.is_root(call.principal) and not _may_name_a_role(call, service):
            return  # the hot path of cove's own key: nothing to map, nothing to check
        if call.principal is ANONYMOUS or self.identity.is_other_account(call.principal):
            # IAM has no say over them: S3 decides by bucket ownership and ACLs, and they
            # may use nothing else
            if service.signing_name != "s3":
                raise _other_account_refused(service, call.principal.arn)
            return
        wire = _wire(call, service, body)
        self._authorize(call, service, actions.accesses(wire))
        role_check = _role_check(wire)
        if role_check is not None:  # after authorisation: a denied caller learns nothing
            self._check_roles(*role_check)

    def _authorize(self, call: Call, service: Service, accesses: list[Access]) -> None:
        principal = call.principal
        if self.identity.is_root(principal) or not accesses:
            return
        role = self.identity.role_of(principal.access_key_id)
        if role is None:  # revoked between the signature check and now
            raise errors.InvalidAccessKeyId("The security token included in the request is "
                                            "invalid.")
        policies = self.roles.policies_of(role)
        common = {"aws:principalarn": [f"arn:aws:iam::{principal.account_id}:role/{role}"],
                  "aws:principalaccount": [principal.account_id],
                  "aws:principaltype": ["AssumedRole"],
                  "aws:userid": [principal.arn.rsplit("/", 1)[-1]],
                  "aws:securetransport": [
                      "true" if call.request.url.scheme == "https" else "false"],
                  "aws:requestedregion": [call.region]}
        for access in accesses:
            context = {**common, **{k.lower(): v for k, v in access.context.items()}}
            decision = evaluate(policies, access.action, access.resource, context).decision
            if decision != "allowed":
                raise _denied(service, principal.arn, access, decision)

    def _check_roles(self, service: str, operation: str, params: dict[str, Any]) -> None:
        trusted = ROLE_FIELDS[service][operation][1]
        for arn in actions.roles_named(service, operation, params):
            try:
                self.identity.assumable(arn, trusted)
            except errors.ValidationError as exc:
                if service == "lambda":
                    raise errors.InvalidParameterValue(
                        "The role defined for the function cannot be assumed by Lambda.") \
                        from exc
                raise


def _role_check(w: Wire) -> tuple[str, str, dict[str, Any]] | None:
    """(service, operation, params) of a request that names a role for what it creates."""
    if w.signing_name == "sagemaker" and "x-amz-target" in w.headers:
        operation = w.headers["x-amz-target"].partition(".")[2]
        if operation in ROLE_FIELDS["sagemaker"]:
            return "sagemaker", operation, actions.json_params(w.body)
    elif w.signing_name == "lambda":
        found = actions.route("lambda", w.method, w.path)
        if found and found[0] in ROLE_FIELDS["lambda"]:
            return "lambda", found[0], actions.json_params(w.body)
    return None


def _may_name_a_role(call: Call, service: Service) -> bool:
    """Whether the request may create something that names a role (so needs the role check)."""
    if service.signing_name == "sagemaker":
        target = call.request.headers.get("x-amz-target", "")
        return target.partition(".")[2] in ROLE_FIELDS["sagemaker"]
    return service.signing_name == "lambda" and call.request.method in ("POST", "PUT")


def _wire(call: Call, service: Service, body: bytes | None) -> Wire:
    request = call.request
    return Wire(service.signing_name, request.method, request.scope["path"],
                request.query_params, request.headers, body, call.region,
                call.principal.account_id)


def _other_account_refused(service: Service, arn: str) -> errors.AccessDenied:
    message = (f"{arn} may use only S3 in cove: {service.signing_name} belongs to cove's own "
               f"account.")
    if service.protocol == "json":
        return errors.AccessDeniedJson(message)
    return errors.AccessDenied(message)


def _denied(service: Service, arn: str, access: Access, decision: str) -> errors.AccessDenied:
    why = ("with an explicit deny in an identity-based policy" if decision == "explicitDeny"
           else f"because no identity-based policy allows the {access.action} action")
    message = (f"User: {arn} is not authorized to perform: {access.action} on resource: "
               f"{access.resource} {why}")
    if service.protocol == "json":
        return errors.AccessDeniedJson(message)
    return errors.AccessDenied(message)
