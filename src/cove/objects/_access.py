"""Who may do what to a bucket or an object, beyond IAM.

cove's own keys are authorised by IAM at the edge, and on the buckets cove's account owns that
is the whole answer.  Every other requester (another account, or an unsigned request) reaches a
bucket only through its owner's ACLs, as S3 decides cross-account and anonymous requests: a
bucket ACL grants READ (list), WRITE (create, overwrite and delete objects) and READ_ACP /
WRITE_ACP; an object ACL grants READ of that object.  Bucket configuration (versioning,
website, public access block, ownership, deletion) is the owner's alone.  ACLs count only where
the bucket's Object Ownership enables them; ``IgnorePublicAcls`` drops the grants to everyone,
and ``BlockPublicAcls`` refuses new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool

from cove import errors
from cove.identity import Account, Principal
from cove.objects import _acl
from cove.objects._acl import ENFORCED, PREFERRED, Acl
from cove.objects._store import OWNER_SETTING, LocalObjectStore
from cove.wire import Call

OWNERSHIP_SETTING = "objectOwnership"
ACL_SETTING = "acl"
PUBLIC_ACCESS_SETTING = "publicAccessBlock"
#: The query parameters of the bucket reads a bucket ACL's READ allows: ListObjects (v1, v2),
#: ListObjectVersions, ListMultipartUploads and HeadBucket; any other (``?location``,
#: ``?versioning``...) is the owner's alone.
_LISTING_PARAMETERS = frozenset((
    "uploads", "versions", "list-type", "prefix", "delimiter", "marker", "max-keys",
    "encoding-type", "continuation-token", "start-after", "fetch-owner", "key-marker",
    "upload-id-marker", "max-uploads", "version-id-marker", "optional-object-attributes"))


class Requesters(Protocol):
    """Who a principal is, as S3 names accounts (``cove.identity.Identity`` is one)."""

    main: Account

    def account_of(self, principal: Principal) -> Account | None: ...

    def accounts(self) -> list[Account]: ...


@dataclass(frozen=True)
class BucketView:
    """What decides access to one bucket, from its settings."""

    name: str
    owner: str
    ownership: str | None  # None: the controls were deleted (ACLs apply, as ObjectWriter)
    stored_acl: Acl | None
    block_public_acls: bool
    ignore_public_acls: bool

    @property
    def acls_enabled(self) -> bool:
        return self.ownership != ENFORCED

    @property
    def acl(self) -> Acl:
        """The bucket's ACL as stored (the owner's FULL_CONTROL when none is)."""
        return self.stored_acl or _acl.private(self.owner)

    def effective(self, acl: Acl) -> Acl:
        """What an ACL of this bucket (or of an object in it) grants, as evaluated."""
        if not self.acls_enabled:
            return _acl.private(self.owner)
        return acl.without_public() if self.ignore_public_acls else acl


def bucket_view(name: str, settings: Mapping[str, Any], main: str) -> BucketView:
    blocks = settings.get(PUBLIC_ACCESS_SETTING) or {}
    stored = settings.get(ACL_SETTING)
    ownership = settings.get(OWNERSHIP_SETTING, ENFORCED)
    return BucketView(name, settings.get(OWNER_SETTING) or main, ownership or None,
                      Acl.from_dict(stored) if stored else None,
                      bool(blocks.get("BlockPublicAcls")), bool(blocks.get("IgnorePublicAcls")))


def needed(method: str, query: Mapping[str, str], key: str) -> tuple[str, str] | None:
    """(on "bucket" or "object", the ACL permission) a non-owner needs; None: owner only."""
    if "acl" in query:
        return ("object" if key else "bucket"), ("READ_ACP" if method in ("GET", "HEAD")
                                                 else "WRITE_ACP")
    if not key:
        if method in ("GET", "HEAD") and set(query) <= _LISTING_PARAMETERS:
            return "bucket", "READ"
        if method == "POST" and "delete" in query:
            return "bucket", "WRITE"
        return None
    if method in ("GET", "HEAD") and "uploadId" not in query:
        return "object", "READ"
    return "bucket", "WRITE"


class AccessGate:
    def __init__(self, store: LocalObjectStore, requesters: Requesters) -> None:
        self.store = store
        self.requesters = requesters

    def requester(self, principal: Principal) -> str | None:
        """The canonical user id a request acts as (None: anonymous)."""
        account = self.requesters.account_of(principal)
        return account.canonical_id if account else None

    def main(self) -> str:
        return self.requesters.main.canonical_id

    def name_of(self, canonical_id: str) -> str | None:
        return next((a.name for a in self.requesters.accounts()
                     if a.canonical_id == canonical_id), None)

    async def view(self, bucket: str) -> BucketView:
        settings = self.store.cached_settings(bucket)
        if settings is None:
            settings = await run_in_threadpool(self.store.settings_of, bucket)
        return bucket_view(bucket, settings, self.main())

    async def check(self, call: Call, requester: str | None, view: BucketView,
                    key: str) -> None:
        """AccessDenied unless ``requester`` may make this request of the bucket."""
        request = call.request
        self._check_expected_owner(call, view)
        need = needed(request.method, request.query_params, key)
        if requester == view.owner and (need is None or need[0] == "bucket"
                                        or not view.acls_enabled):
            return  # the owner's own bucket: IAM decided (objects written by others aside)
        if need is None:
            raise _denied()
        target, permission = need
        if target == "bucket":
            if not view.effective(view.acl).allows(requester, permission):
                raise _denied()
            return
        await run_in_threadpool(self._check_object, view, requester, key,
                                request.query_params.get("versionId"), permission)

    async def check_copy_source(self, call: Call, requester: str | None) -> None:
        """CopyObject and UploadPartCopy also read their source: READ on it is needed."""
        source = call.request.headers.get("x-amz-copy-source")
        if source is None:
            return
        path, _, version = source.partition("?versionId=")
        bucket, _, key = unquote(path).lstrip("/").partition("/")
        if not bucket or not key:
            return  # the copy itself answers the malformed source
        view = await self.view(bucket)
        self._check_expected_owner(call, view, "x-amz-source-expected-bucket-owner")
        if requester == view.owner and not view.acls_enabled:
            return
        await run_in_threadpool(self._check_object, view, requester, key,
                                unquote(version) or None, "READ")

    def _check_object(self, view: BucketView, requester: str | None, key: str,
                      version_id: str | None, permission: str) -> None:
        from cove.objects._s3object_api import find_object

        try:
            info = find_object(self.store, view.name, key, version_id)
        except (errors.NoSuchKey, errors.NoSuchVersion, errors.MethodNotAllowed):
            # who may list the bucket may learn that a key is missing; nobody else
            if requester == view.owner or view.effective(view.acl).allows(requester, "READ"):
                raise
            raise _denied() from None
        if not view.effective(self.object_acl(view, info)).allows(requester, permission):
            raise _denied()

    def object_acl(self, view: BucketView, info: Any) -> Acl:
        stored = self.store.object_acl(info)
        return Acl.from_dict(stored) if stored else _acl.private(view.owner)

    def _check_expected_owner(self, call: Call, view: BucketView,
                              header: str = "x-amz-expected-bucket-owner") -> None:
        """ExpectedBucketOwner (or, for a copy's source, ExpectedSourceBucketOwner)."""
        expected = call.request.headers.get(header)
        if expected is None:
            return
        account = next((a.account_id for a in self.requesters.accounts()
                        if a.canonical_id == view.owner), "")
        if expected != account:
            raise errors.S3AccessDenied(f"Access Denied: the bucket is not owned by account "
                                        f"{expected} ({header}).")

    def new_object_acl(self, view: BucketView, requester: str | None,
                       headers: Mapping[str, str]) -> dict[str, Any] | None:
        """The owner and ACL a write gives the object (None: the bucket owner's, private);
        refuses what the bucket's ownership or public access block does not allow."""
        if not view.acls_enabled:
            _acl.refuse_under_enforced(
                _acl.requested(headers, view.owner, view.owner, _acl.any_name), view.owner)
            return None
        writer = requester or view.owner  # an unsigned write: the bucket owner's object
        if view.ownership == PREFERRED and headers.get("x-amz-acl") == \
                "bucket-owner-full-control":
            writer = view.owner
        acl = _acl.requested(headers, writer, view.owner, self.name_of) or _acl.private(writer)
        self.check_public(view, acl)
        return None if acl == _acl.private(view.owner) else acl.as_dict()

    @staticmethod
    def check_public(view: BucketView, acl: Acl) -> None:
        if view.block_public_acls and acl.is_public():
            raise errors.S3AccessDenied("Access Denied: the bucket's public access block "
                                        "(BlockPublicAcls) refuses public ACLs.")


def _denied() -> errors.S3AccessDenied:
    return errors.S3AccessDenied("Access Denied")
