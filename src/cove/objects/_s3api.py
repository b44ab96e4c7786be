"""The S3 REST API (path-style): routing and the bucket operations."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove import errors
from cove.edge import Call
from cove.objects import _s3object_api as object_api
from cove.objects._base import Listing, ObjectInfo
from cove.objects._s3wire import (
    check_bucket_name,
    child_text,
    el,
    iso_date,
    parse_xml,
    url_encode,
    verify_small_body,
    xml_response,
)
from cove.objects._store import LocalObjectStore
from cove.objects._website import Websites

MAX_XML_BODY = 2 * 1024 * 1024
OWNER = "<Owner><ID>cove</ID><DisplayName>cove</DisplayName></Owner>"
UNSUPPORTED_SUBRESOURCES = ("acl", "policy", "cors", "lifecycle", "tagging", "encryption",
                            "logging", "notification", "replication", "object-lock",
                            "ownershipControls", "publicAccessBlock", "accelerate",
                            "requestPayment", "inventory", "analytics", "metrics",
                            "intelligent-tiering", "retention", "legal-hold", "torrent",
                            "restore", "select", "attributes", "versions")


class S3Service:
    """Answers every request signed for ``s3``."""

    signing_name = "s3"
    protocol = "rest-xml"

    def __init__(self, store: LocalObjectStore, region: str, websites: Websites) -> None:
        self.store = store
        self.region = region
        self.websites = websites

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
        if not bucket:
            if method != "GET":
                raise errors.MethodNotAllowed("The specified method is not allowed against "
                                              "this resource.")
            return await self.list_buckets(call)
        if not key:
            return await self._bucket_operation(call, method, bucket)
        return await object_api.dispatch(self.store, call, method, bucket, key)

    async def _bucket_operation(self, call: Call, method: str, bucket: str) -> Response:
        query = call.request.query_params
        if "website" in query:
            return await self._website(call, method, bucket)
        if method == "PUT":
            if "versioning" in query:
                raise errors.NotImplementedByCove("cove does not implement bucket versioning.")
            return await self.create_bucket(call, bucket)
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
                await run_in_threadpool(self.store.get_bucket, bucket)
                return xml_response("VersioningConfiguration", "")
            if "uploads" in query:
                return await object_api.list_multipart_uploads(self.store, call, bucket)
            if query.get("list-type") == "2":
                return await self.list_objects_v2(call, bucket)
            return await self.list_objects_v1(call, bucket)
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

    async def list_buckets(self, call: Call) -> Response:
        _check_max_buckets(call.request.query_params.get("max-buckets"))
        found = await run_in_threadpool(self.store.list_buckets)
        inner = "".join(f"<Bucket>{el('Name', b.name)}{el('CreationDate', iso_date(b.created))}"
                        f"{el('BucketRegion', b.region)}</Bucket>" for b in found)
        return xml_response("ListAllMyBucketsResult", f"{OWNER}<Buckets>{inner}</Buckets>")

    async def create_bucket(self, call: Call, bucket: str) -> Response:
        check_bucket_name(bucket)
        body = await call.body.read(MAX_XML_BODY)
        region = self.region
        if body.strip():
            location = child_text(parse_xml(body), "LocationConstraint")
            region = location or region
        await run_in_threadpool(self.store.create_bucket, bucket, region)
        return Response(b"", 200, headers={"Location": f"/{bucket}"})

    async def delete_objects(self, call: Call, bucket: str) -> Response:
        body = await call.body.read(MAX_XML_BODY)
        verify_small_body(call.request.headers, body)
        root = parse_xml(body)
        quiet = child_text(root, "Quiet").lower() == "true"
        keys = [child_text(node, "Key") for node in root.findall("Object")]
        if not keys or len(keys) > 1000:
            raise errors.MalformedXML("A Delete request names between 1 and 1000 objects.")
        await run_in_threadpool(self.store.get_bucket, bucket)
        results = []
        for key in keys:
            await run_in_threadpool(self.store.delete_object, bucket, key)
            if not quiet:
                results.append(f"<Deleted>{el('Key', key)}</Deleted>")
        return xml_response("DeleteResult", "".join(results))

    async def list_objects_v2(self, call: Call, bucket: str) -> Response:
        q = call.request.query_params
        token = q.get("continuation-token")
        marker = _decode_token(token) if token else q.get("start-after", "")
        listing, prefix, delimiter, max_keys = await self._list(call, bucket, marker)
        encode = _encoder(q.get("encoding-type"))
        parts = [el("Name", bucket), el("Prefix", encode(prefix)), el("MaxKeys", max_keys),
                 el("KeyCount", len(listing.objects) + len(listing.common_prefixes)),
                 el("IsTruncated", listing.is_truncated)]
        if delimiter:
            parts.append(el("Delimiter", encode(delimiter)))
        if q.get("encoding-type"):
            parts.append(el("EncodingType", "url"))
        if token:
            parts.append(el("ContinuationToken", token))
        if "start-after" in q:
            parts.append(el("StartAfter", encode(q["start-after"])))
        if listing.is_truncated:
            parts.append(el("NextContinuationToken", _encode_token(listing.next_marker)))
        fetch_owner = q.get("fetch-owner") == "true"
        parts += [_contents(o, encode, fetch_owner) for o in listing.objects]
        parts += [f"<CommonPrefixes>{el('Prefix', encode(p))}</CommonPrefixes>"
                  for p in listing.common_prefixes]
        return xml_response("ListBucketResult", "".join(parts))

    async def list_objects_v1(self, call: Call, bucket: str) -> Response:
        q = call.request.query_params
        marker = q.get("marker", "")
        listing, prefix, delimiter, max_keys = await self._list(call, bucket, marker)
        encode = _encoder(q.get("encoding-type"))
        parts = [el("Name", bucket), el("Prefix", encode(prefix)), el("Marker", encode(marker)),
                 el("MaxKeys", max_keys), el("IsTruncated", listing.is_truncated)]
        if delimiter:
            parts.append(el("Delimiter", encode(delimiter)))
        if q.get("encoding-type"):
            parts.append(el("EncodingType", "url"))
        if listing.is_truncated:
            parts.append(el("NextMarker", encode(listing.next_marker)))
        parts += [_contents(o, encode, True) for o in listing.objects]
        parts += [f"<CommonPrefixes>{el('Prefix', encode(p))}</CommonPrefixes>"
                  for p in listing.common_prefixes]
        return xml_response("ListBucketResult", "".join(parts))

    async def _list(self, call: Call, bucket: str,
                    marker: str) -> tuple[Listing, str, str, int]:
        q = call.request.query_params
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        try:
            max_keys = int(q.get("max-keys", "1000"))
        except ValueError as exc:
            raise errors.InvalidArgument("max-keys must be an integer.") from exc
        if max_keys < 0:
            raise errors.InvalidArgument("max-keys must not be negative.")
        max_keys = min(max_keys, 1000)
        listing = await run_in_threadpool(self.store.list_objects, bucket, prefix, delimiter,
                                          marker, max_keys)
        return listing, prefix, delimiter, max_keys


def _contents(info: ObjectInfo, encode: Callable[[str], str], owner: bool) -> str:
    checksum = el("ChecksumAlgorithm", info.checksum.algorithm) if info.checksum.algorithm else ""
    return (f"<Contents>{el('Key', encode(info.key))}"
            f"{el('LastModified', iso_date(info.last_modified))}{el('ETag', info.etag)}"
            f"{el('Size', info.size)}{el('StorageClass', 'STANDARD')}{checksum}"
            f"{OWNER if owner else ''}</Contents>")


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


def _check_max_buckets(value: str | None) -> None:
    """ListBuckets' ``max-buckets`` (cove answers every bucket in one page): 1 to 10000, as
    S3 requires, so a bad value is refused rather than silently ignored."""
    if value is not None and not (value.isdigit() and 1 <= int(value) <= 10000):
        raise errors.InvalidArgument("max-buckets must be an integer from 1 to 10000.")
