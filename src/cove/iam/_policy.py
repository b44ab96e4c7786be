"""IAM policy documents: parsed and checked once, evaluated fast.

Evaluation follows AWS's documented logic for identity-based policies within one account: an
explicit ``Deny`` that matches wins; otherwise a matching ``Allow`` allows; otherwise the request is
implicitly denied.  A statement matches when its ``Action``/``NotAction``, its
``Resource``/``NotResource`` (or, in a trust policy, its ``Principal``) and every condition match.

The subset cove understands (anything else is refused when the policy is stored, never ignored):

- ``Action``/``NotAction``: ``service:Name`` patterns with ``*`` and ``?``, matched without regard
  to case; ``Resource``/``NotResource``: ARN patterns with ``*`` and ``?``, matched segment by
  segment (partition, service, region, account, resource), case-sensitively.
- Condition operators (and their ``...IfExists`` forms, and the ``ForAnyValue:``/``ForAllValues:``
  set prefixes): StringEquals, StringNotEquals, StringEqualsIgnoreCase,
  StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike,
  ArnNotLike, NumericEquals, NumericNotEquals, NumericLessThan, NumericLessThanEquals,
  NumericGreaterThan, NumericGreaterThanEquals, Bool, Null.
- Condition keys: those in ``CONDITION_KEYS``.
- Trust policies: ``Principal`` with ``Service``, ``AWS`` (account ids, ``arn:...:root``, role ARNs,
  ``*``) or ``"*"``.

Within one operator the keys are ANDed, the values of one key ORed; a negated operator
(``...Not...``) matches when no value matches, including when the key is absent, as AWS documents.
"""

from __future__ import annotations

import json
import operator as operator_module
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cove.errors import MalformedPolicyDocument

Decision = Literal["allowed", "explicitDeny", "implicitDeny"]

#: Request values: each key (lower-cased) holds one or more strings.
Context = Mapping[str, Sequence[str]]

#: The condition keys cove fills in (lower-cased as AWS compares them).
CONDITION_KEYS = frozenset(k.lower() for k in (
    "aws:SourceArn", "aws:SourceAccount", "aws:PrincipalArn", "aws:PrincipalAccount",
    "aws:PrincipalType", "aws:userid", "aws:SecureTransport", "aws:RequestedRegion",
    "aws:CalledVia", "s3:prefix", "s3:delimiter", "s3:max-keys", "iam:PassedToService",
    "sts:RoleSessionName"))

_STRING_OPS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
               "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"}
_ARN_OPS = {"ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"}
_NUMERIC_OPS = {"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                "NumericGreaterThan", "NumericGreaterThanEquals"}
OPERATORS = frozenset(_STRING_OPS | _ARN_OPS | _NUMERIC_OPS | {"Bool", "Null"})
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                   "Condition", "Principal"}


# --- patterns ---------------------------------------------------------------------------------


def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@dataclass(frozen=True)
class _Patterns:
    """Patterns matched against one value: exact strings in a set, all the wildcard patterns
    as one regex (one C-level match per value, however many patterns)."""

    exact: frozenset[str]
    wild: re.Pattern[str] | None
    ignore_case: bool = False
    anything: bool = False  # a bare "*"

    @classmethod
    def of(cls, patterns: Sequence[str], ignore_case: bool = False,
           wildcards: bool = True) -> _Patterns:
        exact = [p for p in patterns if not wildcards or ("*" not in p and "?" not in p)]
        wild = [p for p in patterns if wildcards and ("*" in p or "?" in p)]
        combined = "|".join(f"(?:{_glob(p).pattern})" for p in wild)
        return cls(frozenset(p.lower() if ignore_case else p for p in exact),
                   re.compile(combined, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
                   if wild else None, ignore_case, "*" in wild)

    def match(self, value: str) -> bool:
        if self.anything or (value.lower() if self.ignore_case else value) in self.exact:
            return True
        return self.wild is not None and self.wild.fullmatch(value) is not None


def _arn_glob(pattern: str) -> str:
    """An ARN pattern as a regex: wildcards in the first five parts stay within their part; in
    the resource part (which may itself hold ':') they reach to the end, as AWS matches."""
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return _glob(pattern).pattern
    head = ":".join("".join("[^:]*" if c == "*" else "[^:]" if c == "?" else re.escape(c)
                            for c in part) for part in parts[:5])
    return head + ":" + _glob(parts[5]).pattern


class _ArnPatterns(_Patterns):
    """ARN patterns matched part by part (``arn:partition:service:region:account:resource``)."""

    @classmethod
    def of(cls, patterns: Sequence[str], ignore_case: bool = False,
           wildcards: bool = True) -> _Patterns:
        exact = [p for p in patterns if not wildcards or ("*" not in p and "?" not in p)]
        wild = [p for p in patterns if wildcards and ("*" in p or "?" in p)]
        combined = "|".join(f"(?:{_arn_glob(p)})" for p in wild)
        return cls(frozenset(exact), re.compile(combined, re.DOTALL) if wild else None, False,
                   "*" in wild)


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Condition:
    """One ``Operator: {key: values}`` entry for one key."""

    operator: str  # the base operator, without prefix or IfExists
    key: str  # lower-cased
    values: tuple[str, ...]
    negated: bool
    if_exists: bool
    quantifier: str  # "" | "ForAnyValue" | "ForAllValues"
    matcher: Any = field(compare=False, default=None)

    def holds(self, context: Context) -> bool:
        present = context.get(self.key)
        if self.operator == "Null":
            return (not present) == (self.values[0].lower() == "true")
        if not present:
            if self.quantifier == "ForAllValues":
                return True
            return self.if_exists or (self.negated and self.quantifier == "")
        if self.quantifier == "ForAllValues":
            return all(self._one(v) for v in present)
        if self.quantifier == "ForAnyValue":
            return any(self._one(v) for v in present)
        if self.negated:  # single-valued: no value of the request may match any policy value
            return not any(self.matcher(v) for v in present)
        return any(self.matcher(v) for v in present)

    def _one(self, value: str) -> bool:
        hit = bool(self.matcher(value))
        return not hit if self.negated else hit


def _matcher(base: str, values: Sequence[str]) -> Any:
    positive = base.replace("Not", "", 1) if base.startswith(("StringNot", "ArnNot",
                                                               "NumericNot")) else base
    if positive == "StringEquals":
        return _Patterns.of(values, wildcards=False).match
    if positive == "StringEqualsIgnoreCase":
        return _Patterns.of(values, ignore_case=True, wildcards=False).match
    if positive == "StringLike":
        return _Patterns.of(values).match
    if positive == "ArnEquals":
        return _ArnPatterns.of(values, wildcards=False).match
    if positive == "ArnLike":
        return _ArnPatterns.of(values).match
    if positive == "Bool":
        wanted = {v.lower() for v in values}
        return lambda v: v.lower() in wanted
    return _numeric(positive, values)


def _numeric(operator: str, values: Sequence[str]) -> Any:
    try:
        limits = [float(v) for v in values]
    except ValueError as exc:
        raise MalformedPolicyDocument(
            f"{operator} needs numbers, not {list(values)!r}.") from exc
    compare: Callable[[float, float], bool] = {
        "NumericEquals": operator_module.eq, "NumericLessThan": operator_module.lt,
        "NumericLessThanEquals": operator_module.le, "NumericGreaterThan": operator_module.gt,
        "NumericGreaterThanEquals": operator_module.ge}[operator]

    def match(value: str) -> bool:
        try:
            number = float(value)
        except ValueError:
            return False
        return any(compare(number, limit) for limit in limits)

    return match


def _parse_operator(name: str) -> tuple[str, str, bool]:
    quantifier, _, rest = name.rpartition(":")
    if quantifier not in ("", "ForAnyValue", "ForAllValues"):
        raise MalformedPolicyDocument(
            f"Condition operator {name!r}: the only set prefixes are ForAnyValue: and "
            "ForAllValues:.")
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest[:-len("IfExists")] if if_exists else rest
    if base not in OPERATORS or (base == "Null" and (if_exists or quantifier)):
        raise MalformedPolicyDocument(
            f"Condition operator {name!r} is not supported by cove; it supports "
            f"{', '.join(sorted(OPERATORS))} (with IfExists, ForAnyValue:, ForAllValues:).")
    return base, quantifier, if_exists


def _conditions(block: Any) -> tuple[_Condition, ...]:
    if not isinstance(block, dict):
        raise MalformedPolicyDocument("Condition must be an object of operators.")
    out: list[_Condition] = []
    for name, entries in block.items():
        base, quantifier, if_exists = _parse_operator(str(name))
        if not isinstance(entries, dict) or not entries:
            raise MalformedPolicyDocument(f"Condition {name} must map keys to values.")
        for key, raw in entries.items():
            values = _strings(raw, f"Condition {name} {key}")
            if key.lower() not in CONDITION_KEYS:
                raise MalformedPolicyDocument(
                    f"Condition key {key!r} is not supported by cove; it supports "
                    f"{', '.join(sorted(CONDITION_KEYS))}.")
            if base == "Null" and (len(values) != 1 or values[0].lower() not in ("true",
                                                                                   "false")):
                raise MalformedPolicyDocument(f"Null {key} takes \"true\" or \"false\".")
            negated = "Not" in base and base != "Null"
            out.append(_Condition(base, key.lower(), tuple(values), negated, if_exists,
                                  quantifier, None if base == "Null" else _matcher(base,
                                                                                   values)))
    return tuple(out)


# --- statements and policies --------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sid: str
    allow: bool
    actions: _Patterns
    not_action: bool
    resources: _Patterns | None
    not_resource: bool
    principals: dict[str, _Patterns] | None
    conditions: tuple[_Condition, ...]

    def matches(self, action: str, resource: str, context: Context) -> bool:
        if self.actions.match(action) == self.not_action:
            return False
        if self.resources is not None and self.resources.match(resource) == self.not_resource:
            return False
        if not self.conditions:
            return True
        return all(c.holds(context) for c in self.conditions)

    def trusts(self, kind: str, principal: str) -> bool:
        if self.principals is None:
            return False
        if "*" in self.principals:
            return True
        patterns = self.principals.get(kind)
        return patterns is not None and patterns.match(principal)


@dataclass(frozen=True)
class Policy:
    """A checked policy document: its statements, and its JSON as given."""

    name: str
    document: str
    statements: tuple[Statement, ...]


def _strings(raw: Any, what: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str | bool | int | float) for i in items):
        raise MalformedPolicyDocument(f"{what} must be a string or a list of strings.")
    return [str(i).lower() if isinstance(i, bool) else str(i) for i in items]


def _actions(raw: Any) -> list[str]:
    actions = _strings(raw, "Action")
    for action in actions:
        if action != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+", action):
            raise MalformedPolicyDocument(
                f"Action {action!r} must look like service:Operation (wildcards * and ?).")
    return actions


def _resources(raw: Any) -> list[str]:
    resources = _strings(raw, "Resource")
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise MalformedPolicyDocument(f"Resource {resource!r} must be an ARN or *.")
        if "${" in resource:
            raise MalformedPolicyDocument(
                f"Resource {resource!r}: policy variables are not supported by cove.")
    return resources


def _principals(raw: Any) -> dict[str, _Patterns]:
    if raw == "*":
        return {"*": _Patterns.of(["*"])}
    if not isinstance(raw, dict) or not raw:
        raise MalformedPolicyDocument("Principal must be \"*\" or an object like "
                                      "{\"Service\": \"sagemaker.amazonaws.com\"}.")
    out: dict[str, _Patterns] = {}
    for kind, value in raw.items():
        if kind not in ("Service", "AWS"):
            raise MalformedPolicyDocument(
                f"Principal type {kind!r} is not supported by cove (Service and AWS are).")
        names = _strings(value, f"Principal {kind}")
        if kind == "AWS" and "*" in names:
            return {"*": _Patterns.of(["*"])}
        if kind == "AWS":  # an account id stands for the account's root
            names = [f"arn:aws:iam::{n}:root" if re.fullmatch(r"\d{12}", n) else n
                     for n in names]
        out[kind] = _Patterns.of(names, wildcards=False)
    return out


def _statement(raw: Any, trust: bool, index: int) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument(f"Statement {index} must be an object.")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise MalformedPolicyDocument(
            f"Statement {index}: {', '.join(sorted(unknown))} not supported by cove (it "
            f"reads {', '.join(sorted(_STATEMENT_KEYS))}).")
    if raw.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicyDocument(f"Statement {index}: Effect must be Allow or Deny.")
    if ("Action" in raw) == ("NotAction" in raw):
        raise MalformedPolicyDocument(
            f"Statement {index} needs exactly one of Action and NotAction.")
    if trust:
        if "Principal" not in raw or "Resource" in raw or "NotResource" in raw:
            raise MalformedPolicyDocument(
                f"Statement {index} of a trust policy needs a Principal and no Resource.")
        resources, principals = None, _principals(raw["Principal"])
    else:
        if "Principal" in raw:
            raise MalformedPolicyDocument(
                f"Statement {index}: an identity-based policy cannot name a Principal.")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise MalformedPolicyDocument(
                f"Statement {index} needs exactly one of Resource and NotResource.")
        resources = _ArnPatterns.of(_resources(raw.get("Resource", raw.get("NotResource"))))
        principals = None
    return Statement(str(raw.get("Sid", "")), raw["Effect"] == "Allow",
                     _Patterns.of(_actions(raw.get("Action", raw.get("NotAction"))),
                                  ignore_case=True),
                     "NotAction" in raw, resources, "NotResource" in raw, principals,
                     _conditions(raw.get("Condition", {})))


def parse_policy(document: str, name: str = "", trust: bool = False,
                 limit: int = 10240) -> Policy:
    """Check ``document`` (JSON text) and compile it; MalformedPolicyDocument says what is wrong."""
    if len(document) > limit:
        raise MalformedPolicyDocument(f"The policy document is longer than {limit} characters.")
    try:
        raw = json.loads(document)
    except ValueError as exc:
        raise MalformedPolicyDocument(f"The policy document is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or "Statement" not in raw:
        raise MalformedPolicyDocument("The policy document must be an object with a Statement.")
    if raw.get("Version", "2012-10-17") not in ("2012-10-17", "2008-10-17"):
        raise MalformedPolicyDocument("Version must be 2012-10-17 (or 2008-10-17).")
    extra = set(raw) - {"Version", "Id", "Statement"}
    if extra:
        raise MalformedPolicyDocument(f"Unknown policy element(s): {', '.join(sorted(extra))}.")
    items = raw["Statement"] if isinstance(raw["Statement"], list) else [raw["Statement"]]
    if not items:
        raise MalformedPolicyDocument("The policy has no statements.")
    return Policy(name, document, tuple(_statement(s, trust, i) for i, s in enumerate(items)))


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    #: (policy name, statement sid) of the statements that decided.
    matched: tuple[tuple[str, str], ...] = ()


def evaluate(policies: Sequence[Policy], action: str, resource: str,
             context: Context | None = None) -> Evaluation:
    """Explicit deny beats allow beats the implicit deny."""
    ctx = context or {}
    allows: list[tuple[str, str]] = []
    denies: list[tuple[str, str]] = []
    for policy in policies:
        for statement in policy.statements:
            if statement.matches(action, resource, ctx):
                (allows if statement.allow else denies).append((policy.name, statement.sid))
    if denies:
        return Evaluation("explicitDeny", tuple(denies))
    if allows:
        return Evaluation("allowed", tuple(allows))
    return Evaluation("implicitDeny")


def trusts(policy: Policy, kind: str, principal: str, action: str = "sts:AssumeRole",
           context: Context | None = None) -> bool:
    """Whether the trust policy lets ``principal`` (a service name or an ARN) take ``action``."""
    ctx = context or {}
    allowed = False
    for statement in policy.statements:
        if not statement.trusts(kind, principal) or not statement.matches(action, "", ctx):
            continue
        if not statement.allow:
            return False
        allowed = True
    return allowed
