"""The IAM API (query protocol): roles, inline and managed policies, and the policy simulator.

Handlers read the form parameters and return the ``<...Result>`` body; policy documents travel
URL-encoded, as AWS sends them (botocore decodes them back into dicts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote
from xml.sax.saxutils import escape

from cove import errors
from cove.iam._policy import Context, Evaluation, Policy, evaluate, parse_policy
from cove.iam._roles import ManagedPolicy, Role, Roles, role_name_of
from cove.wire import Call, QueryService

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"

Params = dict[str, str]


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def tag(name: str, value: object) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(text)}</{name}>"


def members(name: str, items: list[str]) -> str:
    return f"<{name}>{''.join(f'<member>{item}</member>' for item in items)}</{name}>"


def listed(params: Params, name: str) -> list[str]:
    """``Name.member.1``, ``Name.member.2``, ... in order."""
    out, n = [], 1
    while f"{name}.member.{n}" in params:
        out.append(params[f"{name}.member.{n}"])
        n += 1
    return out


def required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise errors.ValidationError(
            f"1 validation error detected: Value null at '{name}' failed to satisfy "
            "constraint: Member must not be null")
    return value


def role_xml(role: Role) -> str:
    return (tag("Path", role.path) + tag("RoleName", role.name) + tag("RoleId", role.role_id)
            + tag("Arn", role.arn) + tag("CreateDate", iso(role.created))
            + tag("AssumeRolePolicyDocument", quote(role.trust_policy, safe=""))
            + (tag("Description", role.description) if role.description else "")
            + tag("MaxSessionDuration", role.max_session_duration) + "<RoleLastUsed/>")


def policy_xml(policy: ManagedPolicy) -> str:
    return (tag("PolicyName", policy.name) + tag("PolicyId", policy.policy_id)
            + tag("Arn", policy.arn) + tag("Path", policy.path) + tag("DefaultVersionId", "v1")
            + tag("AttachmentCount", policy.attachments)
            + tag("PermissionsBoundaryUsageCount", 0) + tag("IsAttachable", True)
            + (tag("Description", policy.description) if policy.description else "")
            + tag("CreateDate", iso(policy.created)) + tag("UpdateDate", iso(policy.created)))


def page(params: Params, items: list[str], wrapper: str) -> str:
    """One page of ``items`` (already XML) with IAM's Marker/MaxItems/IsTruncated."""
    start = int(params["Marker"]) if params.get("Marker", "").isdigit() else 0
    size = _integer(params, "MaxItems", 100)
    if not 1 <= size <= 1000:
        raise errors.ValidationError("MaxItems must be between 1 and 1000.")
    chunk, more = items[start:start + size], start + size < len(items)
    return (members(wrapper, chunk) + tag("IsTruncated", more)
            + (tag("Marker", start + size) if more else ""))


def _integer(params: Params, name: str, default: int) -> int:
    """A query parameter that must be a whole number (the query protocol sends text)."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise errors.ValidationError(f"Invalid value for {name}: {text[:50]!r} is not an "
                                     "integer.") from exc


def _boolean(params: Params, name: str) -> bool:
    text = params.get(name, "false").lower()
    if text not in ("true", "false"):
        raise errors.ValidationError(f"Invalid value for {name}: {text[:50]!r} is not true or "
                                     "false.")
    return text == "true"


class IamApi:
    def __init__(self, roles: Roles) -> None:
        self.roles = roles

    def service(self) -> QueryService:
        return QueryService("iam", NAMESPACE, self.operations())

    def operations(self) -> dict[str, Callable[[Params, Call], str]]:
        return {name: getattr(self, name[0].lower() + "".join(
            "_" + c.lower() if c.isupper() else c for c in name[1:]))
            for name in OPERATIONS}

    # --- roles --------------------------------------------------------------------------------

    def create_role(self, p: Params, call: Call) -> str:
        role = self.roles.create_role(
            required(p, "RoleName"), required(p, "AssumeRolePolicyDocument"),
            p.get("Path", "/"), p.get("Description", ""),
            _integer(p, "MaxSessionDuration", 3600))
        return f"<Role>{role_xml(role)}</Role>"

    def get_role(self, p: Params, call: Call) -> str:
        return f"<Role>{role_xml(self.roles.role(required(p, 'RoleName')))}</Role>"

    def list_roles(self, p: Params, call: Call) -> str:
        roles = self.roles.roles(p.get("PathPrefix", "/"))
        return page(p, [role_xml(r) for r in roles], "Roles")

    def delete_role(self, p: Params, call: Call) -> str:
        self.roles.delete_role(required(p, "RoleName"))
        return ""

    def update_assume_role_policy(self, p: Params, call: Call) -> str:
        self.roles.update_trust(required(p, "RoleName"), required(p, "PolicyDocument"))
        return ""

    # --- inline policies ----------------------------------------------------------------------

    def put_role_policy(self, p: Params, call: Call) -> str:
        self.roles.put_role_policy(required(p, "RoleName"), required(p, "PolicyName"),
                                   required(p, "PolicyDocument"))
        return ""

    def get_role_policy(self, p: Params, call: Call) -> str:
        role, name = required(p, "RoleName"), required(p, "PolicyName")
        document = self.roles.role_policy(role, name)
        return (tag("RoleName", role) + tag("PolicyName", name)
                + tag("PolicyDocument", quote(document, safe="")))

    def delete_role_policy(self, p: Params, call: Call) -> str:
        self.roles.delete_role_policy(required(p, "RoleName"), required(p, "PolicyName"))
        return ""

    def list_role_policies(self, p: Params, call: Call) -> str:
        names = self.roles.role_policy_names(required(p, "RoleName"))
        return page(p, [escape(n) for n in names], "PolicyNames")

    # --- managed policies -----------------------------------------------------------------------

    def create_policy(self, p: Params, call: Call) -> str:
        policy = self.roles.create_policy(required(p, "PolicyName"),
                                          required(p, "PolicyDocument"), p.get("Path", "/"),
                                          p.get("Description", ""))
        return f"<Policy>{policy_xml(policy)}</Policy>"

    def get_policy(self, p: Params, call: Call) -> str:
        return f"<Policy>{policy_xml(self.roles.policy(required(p, 'PolicyArn')))}</Policy>"

    def get_policy_version(self, p: Params, call: Call) -> str:
        policy = self.roles.policy(required(p, "PolicyArn"))
        if required(p, "VersionId") != "v1":
            raise errors.NoSuchEntity(
                f"Policy {policy.arn} version {p['VersionId']} does not exist or is not "
                "attachable.")
        return ("<PolicyVersion>" + tag("Document", quote(policy.document, safe=""))
                + tag("VersionId", "v1") + tag("IsDefaultVersion", True)
                + tag("CreateDate", iso(policy.created)) + "</PolicyVersion>")

    def list_policies(self, p: Params, call: Call) -> str:
        scope = p.get("Scope", "All")
        if scope not in ("All", "AWS", "Local"):
            raise errors.ValidationError("Scope must be All, AWS or Local.")
        usage = p.get("PolicyUsageFilter", "PermissionsPolicy")
        if usage not in ("PermissionsPolicy", "PermissionsBoundary"):
            raise errors.ValidationError("PolicyUsageFilter must be PermissionsPolicy or "
                                         "PermissionsBoundary.")
        only_attached = _boolean(p, "OnlyAttached")
        chosen = [x for x in self.roles.policies()
                  if (scope == "All" or (scope == "AWS") == x.aws_managed)
                  and x.path.startswith(p.get("PathPrefix", "/"))
                  and (not only_attached or x.attachments)
                  and usage == "PermissionsPolicy"]  # cove has no permission boundaries
        return page(p, [policy_xml(x) for x in chosen], "Policies")

    def attach_role_policy(self, p: Params, call: Call) -> str:
        self.roles.attach(required(p, "RoleName"), required(p, "PolicyArn"))
        return ""

    def detach_role_policy(self, p: Params, call: Call) -> str:
        self.roles.detach(required(p, "RoleName"), required(p, "PolicyArn"))
        return ""

    def list_attached_role_policies(self, p: Params, call: Call) -> str:
        attached = [x for x in self.roles.attached(required(p, "RoleName"))
                    if x.path.startswith(p.get("PathPrefix", "/"))]
        return page(p, [tag("PolicyName", x.name) + tag("PolicyArn", x.arn) for x in attached],
                    "AttachedPolicies")

    # --- the simulator ------------------------------------------------------------------------

    def simulate_principal_policy(self, p: Params, call: Call) -> str:
        source = required(p, "PolicySourceArn")
        role = _role_of_source(source)
        policies = list(self.roles.policies_of(self.roles.role(role).name))
        policies += [parse_policy(d, f"PolicyInputList.{i + 1}")
                     for i, d in enumerate(listed(p, "PolicyInputList"))]
        return simulate(p, policies, source)

    def simulate_custom_policy(self, p: Params, call: Call) -> str:
        documents = listed(p, "PolicyInputList")
        if not documents:
            raise errors.ValidationError("PolicyInputList must name at least one policy.")
        policies = [parse_policy(d, f"PolicyInputList.{i + 1}") for i, d in enumerate(documents)]
        return simulate(p, policies, p.get("CallerArn", ""))


OPERATIONS = ("CreateRole", "GetRole", "ListRoles", "DeleteRole", "UpdateAssumeRolePolicy",
              "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies",
              "CreatePolicy", "GetPolicy", "GetPolicyVersion", "ListPolicies",
              "AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies",
              "SimulatePrincipalPolicy", "SimulateCustomPolicy")


def _role_of_source(arn: str) -> str:
    if ":assumed-role/" in arn:  # an STS session ARN: its role
        return arn.split(":assumed-role/", 1)[1].split("/")[0]
    if ":role/" not in arn:
        raise errors.InvalidInput(
            f"PolicySourceArn {arn!r}: cove simulates roles (arn:aws:iam::ACCOUNT:role/NAME).")
    return role_name_of(arn)


def context_entries(p: Params) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    n = 1
    while f"ContextEntries.member.{n}.ContextKeyName" in p:
        key = p[f"ContextEntries.member.{n}.ContextKeyName"].lower()
        context[key] = listed(p, f"ContextEntries.member.{n}.ContextKeyValues")
        n += 1
    return context


def simulate(p: Params, policies: list[Policy], caller: str) -> str:
    actions = listed(p, "ActionNames")
    if not actions:
        raise errors.ValidationError("ActionNames must name at least one action.")
    resources = listed(p, "ResourceArns") or ["*"]
    context: Context = {**({"aws:principalarn": [caller]} if caller else {}),
                        **context_entries(p)}
    results = [_result(action, resource, evaluate(policies, action, resource, context))
               for action in actions for resource in resources]
    return page(p, results, "EvaluationResults")


def _result(action: str, resource: str, evaluation: Evaluation) -> str:
    statements = "".join(
        "<member>" + tag("SourcePolicyId", policy) + tag("SourcePolicyType", "IAM Policy")
        + "</member>" for policy, _ in evaluation.matched)
    return (tag("EvalActionName", action) + tag("EvalResourceName", resource)
            + tag("EvalDecision", evaluation.decision)
            + f"<MatchedStatements>{statements}</MatchedStatements><MissingContextValues/>")


