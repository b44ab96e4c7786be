"""The S3 REST API (path-style): routing and the bucket operations."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove import errors
from cove.objects import _acl
from cove.objects import _s3object_api as object_api
from cove.objects._access import (
    ACL_SETTING,
    OWNERSHIP_SETTING,
    AccessGate,
    BucketView,
    Requesters,
)
from cove.objects._acl import ENFORCED
from cove.objects._base import Listing, ObjectInfo
from cove.objects._s3compat import (
    NULL_VERSION,
    check_version_id,
    version_entry,
    version_markers,
)
from cove.objects._s3wire import (
    check_bucket_name,
    check_key,
    child_text,
    el,
    iso_date,
    parse_xml,
    url_encode,
    verify_small_body,
    xml_response,
)
from cove.objects._store import LocalObjectStore
from cove.objects._versions import Version
from cove.objects._website import Websites
from cove.wire import Call

#: Renders a listed object version's ``<Owner>`` element.
Owners = Callable[[ObjectInfo], str]

MAX_XML_BODY = 2 * 1024 * 1024
MAX_BUCKETS_PAGE = 10_000
MAX_ACL_BODY = 256 * 1024
#: Bucket subresources a PUT sets (a PUT without one of them creates the bucket).
BUCKET_SETTINGS = ("website", "acl", "publicAccessBlock", "versioning", "ownershipControls")
UNSUPPORTED_SUBRESOURCES = ("policy", "cors", "lifecycle", "tagging", "encryption",
                            "logging", "notification", "replication", "object-lock",
                            "accelerate",
                            "requestPayment", "inventory", "analytics", "metrics",
                            "intelligent-tiering", "retention", "legal-hold", "torrent",
                            "restore", "select", "policyStatus", "abac", "session",
                            "annotation", "renameObject", "metadataTable",
                            "metadataConfiguration", "metadataAnnotationTable",
                            "metadataInventoryTable", "metadataJournalTable")


class S3Service:
    """Answers every request signed for ``s3``."""

    signing_name = "s3"
    protocol = "rest-xml"

    def __init__(self, store: LocalObjectStore, region: str, websites: Websites,
                 requesters: Requesters, default_ownership: str = ENFORCED) -> None:
        self.store = store
        self.region = region
        self.websites = websites
        self.gate = AccessGate(store, requesters)
        #: the Object Ownership of a bucket created without one (AWS's default since April
        #: 2023 is BucketOwnerEnforced: ACLs off)
        self.default_ownership = _acl.check_ownership(default_ownership)

    def matches(self, request: Request) -> bool:
        return True

    async def __call__(self, call: Call) -> Response:
        bucket, _, key = call.request.scope["path"].lstrip("/").partition("/")
        query = call.request.query_params
        unsupported = [name for name in UNSUPPORTED_SUBRESOURCES if name in query]
        if unsupported:
            raise errors.NotImplementedByCove(
                f"cove does not implement the S3 ?{unsupported[0]} subresource.")
        method = call.request.method
        requester = self.gate.requester(call.principal)
        if not bucket:
            if method != "GET":
                raise errors.MethodNotAllowed("The specified method is not allowed against "
                                              "this resource.")
            return await self.list_buckets(call, requester)
        if not key and method == "PUT" and not any(name in query for name in BUCKET_SETTINGS):
            return await self.create_bucket(call, bucket, requester)
        if key:
            check_key(key)
            check_version_id(query.get("versionId"))
        if requester is None and any(name.startswith("response-") for name in query):
            # as S3: an unsigned link must not choose how the browser takes the bytes
            raise errors.InvalidRequest("Request specific response headers cannot be used for "
                                        "anonymous GET requests.")
        view = await self.gate.view(bucket)
        await self.gate.check(call, requester, view, key)
        if "acl" in query:
            return await self._acl_operation(call, method, view, key)
        if not key:
            return await self._bucket_operation(call, method, view)
        if method == "PUT" and "x-amz-copy-source" in call.request.headers:
            await self.gate.check_copy_source(call, requester)
        acl = None
        if (method == "PUT" and "uploadId" not in query) or (method == "POST"
                                                             and "uploads" in query):
            acl = self.gate.new_object_acl(view, requester, call.request.headers)
        if method == "GET" and "uploadId" in query:
            return await object_api.list_parts(self.store, call, bucket, key,
                                               self._upload_parties(view))
        return await object_api.dispatch(self.store, call, method, bucket, key, acl)

    async def _bucket_operation(self, call: Call, method: str, view: BucketView) -> Response:
        query = call.request.query_params
        bucket = view.name
        if "website" in query:
            return await self._website(call, method, bucket)
        if "publicAccessBlock" in query:
            return await self._public_access_block(call, method, bucket)
        if "ownershipControls" in query:
            return await self._ownership_controls(call, method, view)
        if method == "PUT":
            return await self.put_bucket_versioning(call, bucket)
        if method == "HEAD":
            info = await run_in_threadpool(self.store.get_bucket, bucket)
            return Response(b"", 200, headers={"x-amz-bucket-region": info.region})
        if method == "DELETE":
            await run_in_threadpool(self.store.delete_bucket, bucket)
            return Response(b"", 204)
        if method == "POST" and "delete" in query:
            return await self.delete_objects(call, bucket)
        if method == "GET":
            if "location" in query:
                info = await run_in_threadpool(self.store.get_bucket, bucket)
                region = "" if info.region == "us-east-1" else info.region
                return xml_response("LocationConstraint", region)
            if "versioning" in query:
                status = await run_in_threadpool(self.store.setting, bucket, "versioning")
                return xml_response("VersioningConfiguration",
                                    el("Status", status) if status else "")
            if "uploads" in query:
                return await object_api.list_multipart_uploads(
                    self.store, call, bucket, self._upload_parties(view))
            if "versions" in query:
                return await self.list_object_versions(call, view)
            if query.get("list-type") == "2":
                return await self.list_objects_v2(call, view)
            return await self.list_objects_v1(call, view)
        raise errors.MethodNotAllowed("The specified method is not allowed against this "
                                      "resource.")

    async def _website(self, call: Call, method: str, bucket: str) -> Response:
        if method == "PUT":
            body = await call.body.read(MAX_XML_BODY)
            verify_small_body(call.request.headers, body)
            await run_in_threadpool(self.websites.put, bucket, body)
            return Response(b"", 200)
        if method == "GET":
            return await run_in_threadpool(self.websites.configuration_xml, bucket)
        if method == "DELETE":
            await run_in_threadpool(self.websites.delete, bucket)
            return Response(b"", 204)
        raise errors.MethodNotAllowed("The specified method is not allowed against this "
                                      "resource.")

    async def put_bucket_versioning(self, call: Call, bucket: str) -> Response:
        body = await call.body.read(MAX_XML_BODY)
        verify_small_body(call.request.headers, body)
        root = parse_xml(body)
        status = child_text(root, "Status")
        if root.tag != "VersioningConfiguration" or status not in ("Enabled", "Suspended"):
            raise errors.MalformedXML("A VersioningConfiguration needs a Status of Enabled or "
                                      "Suspended.")
        if child_text(root, "MfaDelete") == "Enabled":
            raise errors.NotImplementedByCove("cove does not implement MFA delete.")
        await run_in_threadpool(self.store.put_setting, bucket, "versioning", status)
        return Response(b"", 200)

    async def _public_access_block(self, call: Call, method: str, bucket: str) -> Response:
        blocks = self.websites.public_access
        if method == "PUT":
            body = await call.body.read(MAX_XML_BODY)
            verify_small_body(call.request.headers, body)
            await run_in_threadpool(blocks.put, bucket, body)
            return Response(b"", 200)
        if method == "GET":
            return await run_in_threadpool(blocks.configuration_xml, bucket)
        if method == "DELETE":
            await run_in_threadpool(blocks.delete, bucket)
            return Response(b"", 204)
        raise errors.MethodNotAllowed("The specified method is not allowed against this "
                                      "resource.")

    async def _ownership_controls(self, call: Call, method: str, view: BucketView) -> Response:
        if method == "PUT":
            body = await call.body.read(MAX_XML_BODY)
            verify_small_body(call.request.headers, body)
            root = parse_xml(body)
            rules = root.findall("Rule")
            if root.tag != "OwnershipControls" or len(rules) != 1:
                raise errors.MalformedXML("OwnershipControls needs exactly one Rule.")
            ownership = _acl.check_ownership(child_text(rules[0], "ObjectOwnership"))
            await run_in_threadpool(self.store.put_setting, view.name, OWNERSHIP_SETTING,
                                    ownership)
            return Response(b"", 200)
        if method == "GET":
            if view.ownership is None:
                raise errors.OwnershipControlsNotFoundError(
                    "The bucket ownership controls were not found", BucketName=view.name)
            rule = el("ObjectOwnership", view.ownership)
            return xml_response("OwnershipControls", f"<Rule>{rule}</Rule>")
        if method == "DELETE":  # no controls: ACLs apply, as under ObjectWriter
            await run_in_threadpool(self.store.put_setting, view.name, OWNERSHIP_SETTING, "")
            return Response(b"", 204)
        raise errors.MethodNotAllowed("The specified method is not allowed against this "
                                      "resource.")

    async def _acl_operation(self, call: Call, method: str, view: BucketView,
                             key: str) -> Response:
        """Get/Put of a bucket's or an object's ACL (the gate checked READ_ACP / WRITE_ACP)."""
        info = None
        if key:
            info = await run_in_threadpool(object_api.find_object, self.store, view.name, key,
                                           call.request.query_params.get("versionId"))
        current = _acl.private(view.owner)
        if view.acls_enabled:
            current = (await run_in_threadpool(self.gate.object_acl, view, info) if info
                       else view.acl)
        if method == "GET":
            return xml_response("AccessControlPolicy", current.xml(self.gate.name_of))
        if method != "PUT":
            raise errors.MethodNotAllowed("The specified method is not allowed against this "
                                          "resource.")
        names = self.gate.name_of if view.acls_enabled else _acl.any_name
        acl = await self._requested_acl(call, current.owner, view.owner, names)
        if not view.acls_enabled:
            _acl.refuse_under_enforced(acl, view.owner)
            return Response(b"", 200)
        self.gate.check_public(view, acl)
        stored = None if acl == _acl.private(view.owner) else acl.as_dict()
        if info is not None:
            await run_in_threadpool(self.store.put_object_acl, info, stored)
        else:
            await run_in_threadpool(self.store.put_setting, view.name, ACL_SETTING, stored)
        return Response(b"", 200)

    async def _requested_acl(self, call: Call, owner: str, bucket_owner: str,
                             names: _acl.Names) -> _acl.Acl:
        """The ACL a Put*Acl asks for: by header (canned or grants) or by document."""
        headers = call.request.headers
        acl = _acl.requested(headers, owner, bucket_owner, names)
        body = await call.body.read(MAX_ACL_BODY)
        if acl is not None and body.strip():
            raise errors.UnexpectedContent("This request does not support content: send an "
                                           "ACL by header or by document, not both.")
        if acl is not None:
            return acl
        if not body.strip():
            raise errors.MalformedACLError("An ACL needs a body, an x-amz-acl header or a "
                                           "grant header.")
        verify_small_body(headers, body)
        return _acl.from_document(body, owner, names)

    def _owner_xml(self, canonical_id: str) -> str:
        return (f"<Owner>{el('ID', canonical_id)}"
                f"{el('DisplayName', self.gate.name_of(canonical_id) or '')}</Owner>")

    def _upload_parties(self, view: BucketView) -> Callable[[dict[str, Any] | None], str]:
        """An upload's ``<Initiator>`` and ``<Owner>``, from the owner and ACL it will give
        its object (the account that started it owns it, or the bucket owner does)."""
        def parties(acl: dict[str, Any] | None) -> str:
            owner = self._owner_xml(acl["owner"] if acl else view.owner)
            return owner.replace("Owner>", "Initiator>") + owner
        return parties

    async def _owners(self, view: BucketView, infos: Sequence[ObjectInfo]) -> Owners:
        """Each listed object version's ``<Owner>``: the bucket owner's, unless the bucket's
        Object Ownership lets a writer own what it wrote and this version's writer did."""
        found = await run_in_threadpool(self.store.object_owners, view.name, infos) \
            if view.acls_enabled and infos else {}
        rendered: dict[str, str] = {}

        def owner(info: ObjectInfo) -> str:
            canonical_id = found.get((info.key, info.version_id), view.owner)
            if canonical_id not in rendered:
                rendered[canonical_id] = self._owner_xml(canonical_id)
            return rendered[canonical_id]
        return owner

    async def list_buckets(self, call: Call, requester: str | None) -> Response:
        """ListBuckets, paged by name: MaxBuckets, ContinuationToken, Prefix, BucketRegion;
        each account sees the buckets it owns."""
        if requester is None:
            raise errors.S3AccessDenied("Access Denied: listing buckets needs a signed "
                                        "request.")
        q = call.request.query_params
        limit = _int_param(q.get("max-buckets", str(MAX_BUCKETS_PAGE)), "max-buckets")
        if not 1 <= limit <= MAX_BUCKETS_PAGE:
            raise errors.InvalidArgument(f"max-buckets must be from 1 to {MAX_BUCKETS_PAGE}.",
                                         ArgumentName="max-buckets", ArgumentValue=str(limit))
        token, prefix = q.get("continuation-token"), q.get("prefix", "")
        after = _decode_token(token) if token else ""
        every, owners = await run_in_threadpool(self.store.list_buckets_and_owners)
        mine = "" if requester == self.gate.main() else requester
        found = [b for b in every if b.name.startswith(prefix) and b.name > after
                 and q.get("bucket-region", b.region) == b.region
                 and owners.get(b.name, "") == mine]
        page = found[:limit]
        inner = "".join(f"<Bucket>{el('Name', b.name)}{el('CreationDate', iso_date(b.created))}"
                        f"{el('BucketRegion', b.region)}</Bucket>" for b in page)
        extra = el("ContinuationToken", _encode_token(page[-1].name)) \
            if len(found) > limit else ""
        if "prefix" in q:
            extra += el("Prefix", prefix)
        return xml_response("ListAllMyBucketsResult",
                            f"{self._owner_xml(requester)}<Buckets>{inner}</Buckets>{extra}")

    async def create_bucket(self, call: Call, bucket: str, requester: str | None) -> Response:
        if requester is None:
            raise errors.S3AccessDenied("Access Denied: creating a bucket needs a signed "
                                        "request.")
        check_bucket_name(bucket)
        headers = call.request.headers
        ownership = _acl.check_ownership(headers.get("x-amz-object-ownership",
                                                     self.default_ownership))
        names = _acl.any_name if ownership == ENFORCED else self.gate.name_of
        acl = _acl.requested(headers, requester, requester, names)
        settings: dict[str, Any] = {}
        if ownership == ENFORCED:
            _acl.refuse_under_enforced(acl, requester)
        else:
            settings[OWNERSHIP_SETTING] = ownership
            if acl is not None and acl != _acl.private(requester):
                settings[ACL_SETTING] = acl.as_dict()
        body = await call.body.read(MAX_XML_BODY)
        region = self.region
        if body.strip():
            location = child_text(parse_xml(body), "LocationConstraint")
            region = location or region
        owner = "" if requester == self.gate.main() else requester
        await run_in_threadpool(self.store.create_bucket, bucket, region, owner, settings)
        return Response(b"", 200, headers={"Location": f"/{bucket}"})

    async def delete_objects(self, call: Call, bucket: str) -> Response:
        body = await call.body.read(MAX_XML_BODY)
        verify_small_body(call.request.headers, body)
        root = parse_xml(body)
        quiet = child_text(root, "Quiet").lower() == "true"
        targets = [(node.findtext("Key") or "", node.find("VersionId") is not None,
                    child_text(node, "VersionId")) for node in root.findall("Object")]
        if not targets or len(targets) > 1000:
            raise errors.MalformedXML("A Delete request names between 1 and 1000 objects.")
        await run_in_threadpool(self.store.get_bucket, bucket)
        results = await run_in_threadpool(self._delete_all, bucket, targets, quiet)
        return xml_response("DeleteResult", "".join(results))

    def _delete_all(self, bucket: str, targets: list[tuple[str, bool, str]],
                    quiet: bool) -> list[str]:
        """DeleteObjects' entries, in their order: a <Deleted> (unless quiet) or an <Error>
        each.  The valid ones are deleted in one transaction."""
        results: list[str] = ["" for _ in targets]
        valid: list[tuple[int, str, bool, str]] = []
        for n, (key, versioned, version_id) in enumerate(targets):
            try:
                check_key(key)
                if versioned:
                    check_version_id(version_id)
            except errors.S3Error as exc:
                results[n] = _delete_error(key, versioned, version_id, exc)
                continue
            valid.append((n, key, versioned, version_id))
        try:
            outcomes = self.store.delete_objects(bucket, [
                (key, version_id if versioned else None)
                for _, key, versioned, version_id in valid])
        except errors.S3Error as exc:  # the bucket went meanwhile: every entry failed
            for n, key, versioned, version_id in valid:
                results[n] = _delete_error(key, versioned, version_id, exc)
            return results
        for (n, key, versioned, version_id), outcome in zip(valid, outcomes, strict=True):
            if quiet:
                continue
            version = el("VersionId", version_id) if versioned else ""
            made = ""  # a delete marker deleted by its id, or made by a delete without one
            if outcome is not None:
                made = el("DeleteMarker", True) + ("" if versioned else
                                                   el("DeleteMarkerVersionId", outcome))
            results[n] = f"<Deleted>{el('Key', key)}{version}{made}</Deleted>"
        return results

    async def list_object_versions(self, call: Call, view: BucketView) -> Response:
        """ListObjectVersions of a bucket without versioning: each object is its one version,
        "null", so this is a key listing in the versions shape."""
        q, bucket = call.request.query_params, view.name
        key_marker = version_markers(q)
        if await run_in_threadpool(self.store.versioning, bucket) is not None:
            return await self._list_versions(call, view, key_marker)
        listing, prefix, delimiter, max_keys = await self._list(call, bucket, key_marker)
        owner = await self._owners(view, listing.objects)
        encode = _encoder(q.get("encoding-type"))
        parts = [el("Name", bucket), el("Prefix", encode(prefix)),
                 el("KeyMarker", encode(key_marker)),
                 el("VersionIdMarker", q.get("version-id-marker", "")), el("MaxKeys", max_keys),
                 el("IsTruncated", listing.is_truncated)]
        if delimiter:
            parts.append(el("Delimiter", encode(delimiter)))
        if q.get("encoding-type"):
            parts.append(el("EncodingType", "url"))
        if listing.is_truncated:
            parts.append(el("NextKeyMarker", encode(listing.next_marker)))
            parts.append(el("NextVersionIdMarker", NULL_VERSION))
        parts += [version_entry(o.key, iso_date(o.last_modified), o.etag, o.size,
                                _checksum_algorithm(o), encode, owner(o))
                  for o in listing.objects]
        parts += [f"<CommonPrefixes>{el('Prefix', encode(p))}</CommonPrefixes>"
                  for p in listing.common_prefixes]
        return xml_response("ListVersionsResult", "".join(parts))

    async def _list_versions(self, call: Call, view: BucketView, key_marker: str) -> Response:
        q, bucket = call.request.query_params, view.name
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        max_keys = _max_keys(q.get("max-keys", "1000"))
        version_marker = q.get("version-id-marker", "")
        listing = await run_in_threadpool(self.store.list_versions, bucket, prefix, delimiter,
                                          key_marker, version_marker, max_keys)
        encode = _encoder(q.get("encoding-type"))
        owner = await self._owners(view, [e.info for e in listing.entries
                                          if not isinstance(e, str)])
        parts = [el("Name", bucket), el("Prefix", encode(prefix)),
                 el("KeyMarker", encode(key_marker)), el("VersionIdMarker", version_marker),
                 el("MaxKeys", max_keys), el("IsTruncated", listing.is_truncated)]
        if delimiter:
            parts.append(el("Delimiter", encode(delimiter)))
        if q.get("encoding-type"):
            parts.append(el("EncodingType", "url"))
        if listing.is_truncated:
            parts.append(el("NextKeyMarker", encode(listing.next_key_marker)))
            parts.append(el("NextVersionIdMarker", listing.next_version_marker))
        for entry in listing.entries:
            if isinstance(entry, str):
                parts.append(f"<CommonPrefixes>{el('Prefix', encode(entry))}</CommonPrefixes>")
            else:
                parts.append(_version_element(entry, encode, owner(entry.info)))
        return xml_response("ListVersionsResult", "".join(parts))

    async def list_objects_v2(self, call: Call, view: BucketView) -> Response:
        q, bucket = call.request.query_params, view.name
        token = q.get("continuation-token")
        marker = _decode_token(token) if token else q.get("start-after", "")
        if token == "" and "start-after" not in q:
            marker = ""
        listing, prefix, delimiter, max_keys = await self._list(call, bucket, marker)
        encode = _encoder(q.get("encoding-type"))
        parts = [el("Name", bucket), el("Prefix", encode(prefix)), el("MaxKeys", max_keys),
                 el("KeyCount", len(listing.objects) + len(listing.common_prefixes)),
                 el("IsTruncated", listing.is_truncated)]
        if delimiter:
            parts.append(el("Delimiter", encode(delimiter)))
        if q.get("encoding-type"):
            parts.append(el("EncodingType", "url"))
        if token is not None:  # echoed even when empty, as S3 does
            parts.append(el("ContinuationToken", token))
        if "start-after" in q:
            parts.append(el("StartAfter", encode(q["start-after"])))
        if listing.is_truncated:
            parts.append(el("NextContinuationToken", _encode_token(listing.next_marker)))
        owner = await self._owners(view, listing.objects) if q.get("fetch-owner") == "true" \
            else None
        parts += [_contents(o, encode, owner(o) if owner else "") for o in listing.objects]
        parts += [f"<CommonPrefixes>{el('Prefix', encode(p))}</CommonPrefixes>"
                  for p in listing.common_prefixes]
        return xml_response("ListBucketResult", "".join(parts))

    async def list_objects_v1(self, call: Call, view: BucketView) -> Response:
        q, bucket = call.request.query_params, view.name
        marker = q.get("marker", "")
        listing, prefix, delimiter, max_keys = await self._list(call, bucket, marker)
        encode = _encoder(q.get("encoding-type"))
        # V1 leaves Prefix as sent, unencoded (botocore decodes only the fields S3 encodes)
        parts = [el("Name", bucket), el("Prefix", prefix), el("Marker", encode(marker)),
                 el("MaxKeys", max_keys), el("IsTruncated", listing.is_truncated)]
        if delimiter:
            parts.append(el("Delimiter", encode(delimiter)))
        if q.get("encoding-type"):
            parts.append(el("EncodingType", "url"))
        if listing.is_truncated:
            parts.append(el("NextMarker", encode(listing.next_marker)))
        owner = await self._owners(view, listing.objects)
        parts += [_contents(o, encode, owner(o)) for o in listing.objects]
        parts += [f"<CommonPrefixes>{el('Prefix', encode(p))}</CommonPrefixes>"
                  for p in listing.common_prefixes]
        return xml_response("ListBucketResult", "".join(parts))

    async def _list(self, call: Call, bucket: str,
                    marker: str) -> tuple[Listing, str, str, int]:
        q = call.request.query_params
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        max_keys = _max_keys(q.get("max-keys", "1000"))
        listing = await run_in_threadpool(self.store.list_objects, bucket, prefix, delimiter,
                                          marker, max_keys)
        return listing, prefix, delimiter, max_keys


def _max_keys(text: str) -> int:
    try:
        max_keys = int(text)
    except ValueError as exc:
        raise errors.InvalidArgument("max-keys must be an integer.") from exc
    if max_keys < 0:
        raise errors.InvalidArgument("max-keys must not be negative.")
    return min(max_keys, 1000)


def _version_element(version: Version, encode: Callable[[str], str], owner: str) -> str:
    info = version.info
    common = (f"{el('Key', encode(info.key))}{el('VersionId', info.version_id)}"
              f"{el('IsLatest', version.is_latest)}"
              f"{el('LastModified', iso_date(info.last_modified))}")
    if version.delete_marker:
        return f"<DeleteMarker>{common}{owner}</DeleteMarker>"
    return (f"<Version>{common}{el('ETag', info.etag)}{el('Size', info.size)}"
            f"{el('StorageClass', 'STANDARD')}{_checksum_algorithm(info)}{owner}</Version>")


def _checksum_algorithm(info: ObjectInfo) -> str:
    return el("ChecksumAlgorithm", info.checksum.algorithm) if info.checksum.algorithm else ""


def _contents(info: ObjectInfo, encode: Callable[[str], str], owner: str) -> str:
    """A listing's entry; ``owner`` is its ``<Owner>`` element, or "" for none."""
    checksum = _checksum_algorithm(info)
    return (f"<Contents>{el('Key', encode(info.key))}"
            f"{el('LastModified', iso_date(info.last_modified))}{el('ETag', info.etag)}"
            f"{el('Size', info.size)}{el('StorageClass', 'STANDARD')}{checksum}"
            f"{owner}</Contents>")


def _delete_error(key: str, versioned: bool, version_id: str, exc: errors.S3Error) -> str:
    version = el("VersionId", version_id) if versioned else ""
    return (f"<Error>{el('Key', key)}{version}{el('Code', exc.code)}"
            f"{el('Message', str(exc))}</Error>")


def _encoder(encoding_type: str | None) -> Callable[[str], str]:
    if encoding_type is None:
        return lambda value: value
    if encoding_type != "url":
        raise errors.InvalidArgument("Invalid Encoding Method specified in Request")
    return url_encode


def _encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogateescape")).decode()


def _decode_token(token: str) -> str:
    try:
        raw = base64.b64decode(token.encode(), altchars=b"-_", validate=True)
        return raw.decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidArgument("The continuation token provided is incorrect.") from exc



def _int_param(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise errors.InvalidArgument(f"{name} must be an integer.", ArgumentName=name,
                                     ArgumentValue=text) from exc
