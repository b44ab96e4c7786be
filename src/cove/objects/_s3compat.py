"""What S3 answers for the features cove keeps at AWS's defaults: versioning never enabled
(every object is version "null") and ACLs disabled (Object Ownership "bucket owner enforced":
the owner has FULL_CONTROL of everything, and only ACLs that say exactly that are accepted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from cove import errors
from cove.objects._s3wire import el, parse_xml, verify_small_body
from cove.wire import Call

OWNER_ID = "cove"
OWNER = f"<Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_ID}</DisplayName></Owner>"
NULL_VERSION = "null"
ACCEPTED_CANNED_ACLS = ("private", "bucket-owner-full-control")
GRANT_HEADERS = ("x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                 "x-amz-grant-write", "x-amz-grant-write-acp")
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_ACL_BODY = 256 * 1024
_VERSION_ID = re.compile(r"[0-9a-f]{32}")


def check_version_id(version_id: str | None) -> None:
    """A version id is "null" or one cove made (32 hex digits); anything else is malformed."""
    if version_id is not None and version_id != NULL_VERSION and not _VERSION_ID.fullmatch(
            version_id):
        raise errors.InvalidArgument("Invalid version id specified",
                                     ArgumentName="versionId", ArgumentValue=version_id)


def owner_acl_xml() -> str:
    grant = (f'<Grant><Grantee xmlns:xsi="{_XSI}" xsi:type="CanonicalUser">'
             f"{el('ID', OWNER_ID)}{el('DisplayName', OWNER_ID)}</Grantee>"
             f"{el('Permission', 'FULL_CONTROL')}</Grant>")
    return f"{OWNER}<AccessControlList>{grant}</AccessControlList>"


def check_acl_headers(headers: Mapping[str, str]) -> None:
    """A canned ACL or grant header on a write: only what grants the owner alone passes."""
    canned = headers.get("x-amz-acl")
    if canned is not None and canned not in ACCEPTED_CANNED_ACLS:
        raise _not_supported()
    for name in GRANT_HEADERS:
        value = headers.get(name)
        if value is not None and value.replace(" ", "") not in (f'id="{OWNER_ID}"',
                                                                 f"id={OWNER_ID}"):
            raise _not_supported()


def check_acl_document(body: bytes) -> None:
    """A PutBucketAcl/PutObjectAcl body: accepted only if it grants the owner FULL_CONTROL and
    nothing else (what GetBucketAcl returns, sent back)."""
    root = parse_xml(body)
    grants = root.findall("AccessControlList/Grant")
    for grant in grants:
        grantee = grant.find("Grantee")
        ident = grantee.find("ID") if grantee is not None else None
        if (ident is None or (ident.text or "").strip() != OWNER_ID
                or (grant.findtext("Permission") or "").strip() != "FULL_CONTROL"):
            raise _not_supported()
    if not grants:
        raise _not_supported()


def _not_supported() -> errors.AccessControlListNotSupported:
    return errors.AccessControlListNotSupported(
        "The bucket does not allow ACLs: its Object Ownership is \"bucket owner enforced\", "
        "so the owner has full control of every object. Send no ACL, or the private or "
        "bucket-owner-full-control canned ACL.")


def version_markers(query: Mapping[str, str]) -> str:
    """ListObjectVersions' (key-marker, version-id-marker) as the key to list after."""
    key_marker = query.get("key-marker", "")
    version_marker = query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise errors.InvalidArgument("A version-id marker cannot be specified without a key "
                                     "marker.", ArgumentName="version-id-marker",
                                     ArgumentValue=version_marker)
    if version_marker:
        check_version_id(version_marker)
    return key_marker


def version_entry(key: str, last_modified: str, etag: str, size: int, checksum: str,
                  encode: Callable[[str], str]) -> str:
    return (f"<Version>{el('Key', encode(key))}{el('VersionId', NULL_VERSION)}"
            f"{el('IsLatest', True)}{el('LastModified', last_modified)}{el('ETag', etag)}"
            f"{el('Size', size)}{el('StorageClass', 'STANDARD')}{checksum}{OWNER}</Version>")


async def put_acl(call: Call) -> None:
    """PutBucketAcl/PutObjectAcl: a canned ACL, grant headers or a document; each must grant
    the owner alone (ACLs are disabled, as on a new AWS bucket)."""
    check_acl_headers(call.request.headers)
    body = await call.body.read(MAX_ACL_BODY)
    if body.strip():
        verify_small_body(call.request.headers, body)
        check_acl_document(body)
    elif not any(h in call.request.headers for h in ("x-amz-acl", "x-amz-grant-full-control")):
        raise errors.MalformedACLError("An ACL needs a body, an x-amz-acl header or a grant "
                                       "header.")
