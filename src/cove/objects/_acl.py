"""S3 access control lists: who owns a bucket or an object and what each grantee may do.

An ACL is an owner (a canonical user id) and grants of READ, WRITE, READ_ACP, WRITE_ACP or
FULL_CONTROL to a canonical user or to a group (everyone, anonymous included; every signed
request).  They apply only where the bucket's Object Ownership enables them (``ObjectWriter``
or ``BucketOwnerPreferred``); under ``BucketOwnerEnforced``, AWS's default for new buckets,
the bucket owner owns everything and ACLs must say no more than that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cove import errors
from cove.objects._s3wire import el, parse_xml

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")
GRANT_HEADERS = {"x-amz-grant-full-control": "FULL_CONTROL", "x-amz-grant-read": "READ",
                 "x-amz-grant-write": "WRITE", "x-amz-grant-read-acp": "READ_ACP",
                 "x-amz-grant-write-acp": "WRITE_ACP"}
CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write")
OWNER_ONLY_CANNED = ("private", "bucket-owner-full-control")

ENFORCED, PREFERRED, WRITER = "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"
OWNERSHIPS = (ENFORCED, PREFERRED, WRITER)

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_GRANT_ITEM = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*(?:,|$)')

#: A grantee: ``id:<canonical user id>`` or ``uri:<group>``.
Grantee = str
#: canonical user id -> display name, None for an id no account has.
Names = Callable[[str], "str | None"]


def any_name(canonical_id: str) -> str:
    """Names for an ACL that is only checked for being refused (ACLs off): every id passes
    parsing, so the refusal is AccessControlListNotSupported, as on S3."""
    return ""


@dataclass(frozen=True)
class Acl:
    owner: str
    grants: tuple[tuple[Grantee, str], ...]

    def allows(self, requester: str | None, permission: str) -> bool:
        """Whether ``requester`` (a canonical id; None: anonymous) has ``permission``."""
        if requester == self.owner and permission in ("READ_ACP", "WRITE_ACP"):
            return True  # an owner may always read and change the ACL of what it owns
        return any(granted in ("FULL_CONTROL", permission) and _covers(grantee, requester)
                   for grantee, granted in self.grants)

    def without_public(self) -> Acl:
        """The ACL with its grants to everyone and every signed request ignored
        (IgnorePublicAcls)."""
        return Acl(self.owner, tuple(g for g in self.grants if g[0][4:] not in PUBLIC_GROUPS))

    def is_public(self) -> bool:
        return any(grantee[4:] in PUBLIC_GROUPS for grantee, _ in self.grants)

    def as_dict(self) -> dict[str, Any]:
        return {"owner": self.owner, "grants": [list(g) for g in self.grants]}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Acl:
        return cls(stored["owner"], tuple((g, p) for g, p in stored["grants"]))

    def xml(self, names: Names) -> str:
        """The inside of an AccessControlPolicy document."""
        grants = "".join(f"<Grant>{_grantee_xml(grantee, names)}{el('Permission', p)}</Grant>"
                         for grantee, p in self.grants)
        return (f"<Owner>{el('ID', self.owner)}{el('DisplayName', names(self.owner) or '')}"
                f"</Owner><AccessControlList>{grants}</AccessControlList>")


def private(owner: str) -> Acl:
    return Acl(owner, ((f"id:{owner}", "FULL_CONTROL"),))


def _covers(grantee: Grantee, requester: str | None) -> bool:
    if grantee == f"uri:{ALL_USERS}":
        return True
    if grantee == f"uri:{AUTHENTICATED_USERS}":
        return requester is not None
    return requester is not None and grantee == f"id:{requester}"


def _grantee_xml(grantee: Grantee, names: Names) -> str:
    kind, _, value = grantee.partition(":")
    if kind == "uri":
        return f'<Grantee xmlns:xsi="{_XSI}" xsi:type="Group">{el("URI", value)}</Grantee>'
    return (f'<Grantee xmlns:xsi="{_XSI}" xsi:type="CanonicalUser">{el("ID", value)}'
            f"{el('DisplayName', names(value) or '')}</Grantee>")


# --- what a request asks for ------------------------------------------------------------------

def requested(headers: Mapping[str, str], owner: str, bucket_owner: str,
              names: Names) -> Acl | None:
    """The ACL an ``x-amz-acl`` header or ``x-amz-grant-*`` headers ask for (None: neither);
    both at once is refused, as S3 does."""
    name = headers.get("x-amz-acl")
    grant_headers = [h for h in GRANT_HEADERS if h in headers]
    if name is not None and grant_headers:
        raise errors.InvalidRequest("Specifying both Canned ACLs and Header Grants is not "
                                    "allowed")
    if name is not None:
        return canned(name, owner, bucket_owner)
    if grant_headers:
        return Acl(owner, tuple(grant for h in grant_headers
                                for grant in _header_grants(headers[h], GRANT_HEADERS[h], names)))
    return None


def canned(name: str, owner: str, bucket_owner: str) -> Acl:
    base = private(owner).grants
    extra: dict[str, tuple[tuple[str, str], ...]] = {
        "private": (),
        "public-read": ((f"uri:{ALL_USERS}", "READ"),),
        "public-read-write": ((f"uri:{ALL_USERS}", "READ"), (f"uri:{ALL_USERS}", "WRITE")),
        "authenticated-read": ((f"uri:{AUTHENTICATED_USERS}", "READ"),),
        "bucket-owner-read": ((f"id:{bucket_owner}", "READ"),),
        "bucket-owner-full-control": ((f"id:{bucket_owner}", "FULL_CONTROL"),),
        "log-delivery-write": ((f"uri:{LOG_DELIVERY}", "WRITE"),
                               (f"uri:{LOG_DELIVERY}", "READ_ACP")),
    }
    if name not in extra:
        raise errors.InvalidArgument(f"{name!r} is not a canned ACL: use one of "
                                     f"{', '.join(CANNED)}.", ArgumentName="x-amz-acl",
                                     ArgumentValue=name)
    grants = base + tuple(g for g in extra[name] if g not in base)
    return Acl(owner, grants)


def _header_grants(value: str, permission: str, names: Names) -> list[tuple[str, str]]:
    grants, position = [], 0
    while position < len(value):
        match = _GRANT_ITEM.match(value, position)
        if match is None or match.end() == position:
            raise errors.InvalidArgument(f"Invalid grant header value {value!r}: use "
                                         'id="...", uri="..." or emailAddress="...".')
        grants.append((_grantee(match.group(1), match.group(2).strip(), names), permission))
        position = match.end()
    return grants


def from_document(body: bytes, owner: str, names: Names) -> Acl:
    """A PutBucketAcl/PutObjectAcl AccessControlPolicy document (its Owner cannot change the
    owner)."""
    root = parse_xml(body)
    if root.tag != "AccessControlPolicy":
        raise errors.MalformedACLError("The body must be an AccessControlPolicy document.")
    grants = []
    for grant in root.findall("AccessControlList/Grant"):
        grantee, permission = grant.find("Grantee"), (grant.findtext("Permission") or "").strip()
        if grantee is None or permission not in PERMISSIONS:
            raise errors.MalformedACLError(f"Each Grant needs a Grantee and a Permission, one "
                                           f"of {', '.join(PERMISSIONS)}.")
        kinds = [(k, (grantee.findtext(t) or "").strip()) for k, t in
                 (("id", "ID"), ("uri", "URI"), ("emailAddress", "EmailAddress"))
                 if grantee.find(t) is not None]
        if len(kinds) != 1:
            raise errors.MalformedACLError("A Grantee names one ID, URI or EmailAddress.")
        grants.append((_grantee(*kinds[0], names), permission))
    stated = (root.findtext("Owner/ID") or "").strip()
    if stated and stated != owner:
        raise errors.S3AccessDenied("Access Denied: an ACL cannot change the owner.")
    return Acl(owner, tuple(grants))


def _grantee(kind: str, value: str, names: Names) -> Grantee:
    if kind == "emailAddress":
        raise errors.UnresolvableGrantByEmailAddress(
            "The e-mail address you provided does not match any account on record: grant to "
            "a canonical user id instead.")
    if kind == "uri":
        if value not in GROUPS:
            raise errors.InvalidArgument(f"Invalid group uri {value!r}.")
        return f"uri:{value}"
    if names(value) is None:
        raise errors.InvalidArgument(f"Invalid id: no account has the canonical user id "
                                     f"{value!r}.", ArgumentName="CanonicalUser/ID",
                                     ArgumentValue=value)
    return f"id:{value}"


def check_ownership(value: str) -> str:
    if value not in OWNERSHIPS:
        raise errors.InvalidArgument(f"Object Ownership must be one of {', '.join(OWNERSHIPS)},"
                                     f" not {value!r}.", ArgumentName="ObjectOwnership",
                                     ArgumentValue=value)
    return value


def refuse_under_enforced(acl: Acl | None, bucket_owner: str) -> None:
    """Under BucketOwnerEnforced only an ACL that gives the bucket owner full control, and
    nobody anything else, is accepted (AccessControlListNotSupported otherwise)."""
    if acl is None:
        return
    if acl.owner != bucket_owner or any(g != (f"id:{bucket_owner}", "FULL_CONTROL")
                                        for g in acl.grants):
        raise errors.AccessControlListNotSupported(
            "The bucket does not allow ACLs: its Object Ownership is \"bucket owner "
            "enforced\", so the owner has full control of every object. Send no ACL, or the "
            "private or bucket-owner-full-control canned ACL (or change the bucket's "
            "ownership controls to ObjectWriter or BucketOwnerPreferred).")
