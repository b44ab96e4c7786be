"""What S3 answers for buckets whose versioning was never enabled: every object is version
"null"."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from cove import errors
from cove.objects._s3wire import el

OWNER_ID = "cove"
OWNER = f"<Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_ID}</DisplayName></Owner>"
NULL_VERSION = "null"
_VERSION_ID = re.compile(r"[0-9a-f]{32}")


def check_version_id(version_id: str | None) -> None:
    """A version id is "null" or one cove made (32 hex digits); anything else is malformed."""
    if version_id is not None and version_id != NULL_VERSION and not _VERSION_ID.fullmatch(
            version_id):
        raise errors.InvalidArgument("Invalid version id specified",
                                     ArgumentName="versionId", ArgumentValue=version_id)


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
                  encode: Callable[[str], str], owner: str) -> str:
    return (f"<Version>{el('Key', encode(key))}{el('VersionId', NULL_VERSION)}"
            f"{el('IsLatest', True)}{el('LastModified', last_modified)}{el('ETag', etag)}"
            f"{el('Size', size)}{el('StorageClass', 'STANDARD')}{checksum}{owner}</Version>")
