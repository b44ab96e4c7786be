"""The S3 REST API: object and multipart-upload operations."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse

from cove import errors
from cove.edge import Body, Call
from cove.objects._base import Checksum, ObjectInfo, UploadInfo
from cove.objects._blobs import BlobWriter, WrittenBlob
from cove.objects._multipart import MAX_PART_NUMBER
from cove.objects._s3wire import (
    attribute_headers,
    attributes_from,
    check_conditions,
    check_key,
    child_text,
    declared_length,
    el,
    http_date,
    iso_date,
    parse_range,
    parse_xml,
    requested_checksums,
    verify_digests,
    verify_small_body,
    xml_response,
)
from cove.objects._store import LocalObjectStore

INLINE_READ = 1 << 20
PIPELINE_BATCH = 256 * 1024
IO_THREADS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cove-io")
MAX_XML_BODY = 2 * 1024 * 1024
OWNER = "<Owner><ID>cove</ID><DisplayName>cove</DisplayName></Owner>"


async def dispatch(store: LocalObjectStore, call: Call, method: str, bucket: str,
                   key: str) -> Response:
    check_key(key)
    query = call.request.query_params
    headers = call.request.headers
    if method in ("GET", "HEAD") and "uploadId" not in query:
        if "partNumber" in query:  # refused when malformed, as S3 does, not silently ignored
            _part_number(query["partNumber"])
        return await get_object(store, call, bucket, key, head=method == "HEAD")
    if method == "PUT":
        if "partNumber" in query or "uploadId" in query:
            return await upload_part(store, call, bucket, key)
        if "x-amz-copy-source" in headers:
            return await copy_object(store, call, bucket, key)
        return await put_object(store, call, bucket, key)
    if method == "DELETE":
        if "uploadId" in query:
            await run_in_threadpool(store.uploads.abort, bucket, key, query["uploadId"])
        else:
            await run_in_threadpool(store.delete_object, bucket, key)
        return Response(b"", 204)
    if method == "POST" and "uploads" in query:
        return await create_multipart_upload(store, call, bucket, key)
    if method == "POST" and "uploadId" in query:
        return await complete_multipart_upload(store, call, bucket, key)
    if method == "GET":
        return await list_parts(store, call, bucket, key)
    raise errors.MethodNotAllowed("The specified method is not allowed against this resource.")


# --- writing ----------------------------------------------------------------------------------

async def receive_blob(call: Call, writer: BlobWriter, wanted: Mapping[str, str]) -> WrittenBlob:
    """Stream the body into ``writer``; verify every digest; discard the blob on any failure."""
    loop = asyncio.get_running_loop()
    in_flight: asyncio.Future[Any] | None = None
    try:
        # Batch k is hashed and written (its lanes in parallel) while batch k+1 arrives.
        async for batch in call.body.batches(PIPELINE_BATCH):
            if in_flight is not None:
                await in_flight
            in_flight = asyncio.gather(*(loop.run_in_executor(IO_THREADS, lane, batch)
                                         for lane in writer.lanes))
        if in_flight is not None:
            await in_flight
        blob = await loop.run_in_executor(IO_THREADS, writer.finish)
    except BaseException:
        if in_flight is not None:
            await asyncio.wait([in_flight])
        writer.discard()
        raise
    try:
        verify_digests(call.request.headers, call.body.trailers, blob.md5, blob.checksums,
                       wanted)
    except BaseException:
        writer.discard()
        raise
    return blob


def _checksum_headers(checksum: Checksum) -> dict[str, str]:
    if not checksum.algorithm:
        return {}
    return {f"x-amz-checksum-{checksum.algorithm.lower()}": checksum.value,
            "x-amz-checksum-type": checksum.type}


async def put_object(store: LocalObjectStore, call: Call, bucket: str, key: str) -> Response:
    headers = call.request.headers
    declared_length(headers)
    wanted = requested_checksums(headers)
    attributes = attributes_from(headers)
    store.require_bucket_cached(bucket)  # fail before reading gigabytes
    blob = await receive_blob(call, store.blobs.writer(wanted), wanted)
    checksum = Checksum()
    if wanted:
        algorithm = next(iter(wanted))
        checksum = Checksum(algorithm, blob.checksums[algorithm], "FULL_OBJECT")
    info = await run_in_threadpool(store.put_object, bucket, key, blob, attributes, checksum)
    return Response(b"", 200, headers={"ETag": info.etag, **_checksum_headers(checksum)})


async def copy_object(store: LocalObjectStore, call: Call, bucket: str, key: str) -> Response:
    headers = call.request.headers
    source = await _copy_source(store, headers)
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown metadata directive: use COPY or REPLACE.")
    if directive == "COPY":
        attributes = source.attributes
        if (source.bucket, source.key) == (bucket, key):
            raise errors.InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes.")
    else:
        attributes = attributes_from(headers)
    info = await run_in_threadpool(store.copy_object, source, bucket, key, attributes)
    inner = el("LastModified", iso_date(info.last_modified)) + el("ETag", info.etag)
    return xml_response("CopyObjectResult", inner)


async def _copy_source(store: LocalObjectStore, headers: Mapping[str, str]) -> ObjectInfo:
    raw = unquote(headers["x-amz-copy-source"]).split("?versionId=")[0].lstrip("/")
    bucket, _, key = raw.partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument("Copy Source must mention the source bucket and key: "
                                     "sourcebucket/sourcekey")
    source = await run_in_threadpool(store.head_object, bucket, key)
    status = check_conditions(headers, source.etag, source.last_modified,
                              prefix="x-amz-copy-source-")
    if status is not None:
        raise errors.PreconditionFailed("At least one of the pre-conditions you specified "
                                        "did not hold", Condition="x-amz-copy-source-If-*")
    return source


# --- reading ----------------------------------------------------------------------------------

async def get_object(store: LocalObjectStore, call: Call, bucket: str, key: str,
                     head: bool) -> Response:
    request = call.request
    info = await run_in_threadpool(store.head_object, bucket, key)
    headers = {"ETag": info.etag, "Last-Modified": http_date(info.last_modified),
               "Accept-Ranges": "bytes", "Content-Type": info.attributes.content_type,
               **attribute_headers(info.attributes)}
    status = check_conditions(request.headers, info.etag, info.last_modified)
    if status == 304:
        return Response(b"", 304, headers={k: headers[k] for k in ("ETag", "Last-Modified")})
    if status == 412:
        raise errors.PreconditionFailed("At least one of the pre-conditions you specified did "
                                        "not hold", Condition="If-Match")
    for name, value in request.query_params.items():
        if name.startswith("response-") and name != "response-content-md5":
            headers["-".join(w.capitalize() for w in name[len("response-"):].split("-"))] = value
    start, end, code = 0, info.size - 1, 200
    span = parse_range(request.headers.get("range"), info.size)
    if span is not None:
        start, end, code = span[0], span[1], 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    elif request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers.update(_checksum_headers(info.checksum))
    length = end - start + 1
    headers["Content-Length"] = str(length)
    if head:
        return _bodiless(code, headers)
    if length <= INLINE_READ:
        data = await run_in_threadpool(store.read, info, start, length)
        return Response(data, code, headers=headers)
    return StreamingResponse(iterate_in_threadpool(store.iter_range(info, start, length)),
                             code, headers=headers)


def _bodiless(status: int, headers: dict[str, str]) -> Response:
    response = Response(b"", status, headers=headers)
    response.headers["content-length"] = headers["Content-Length"]
    return response


# --- multipart --------------------------------------------------------------------------------

async def create_multipart_upload(store: LocalObjectStore, call: Call, bucket: str,
                                  key: str) -> Response:
    headers = call.request.headers
    algorithm = headers.get("x-amz-checksum-algorithm", "").upper()
    kind = headers.get("x-amz-checksum-type", "").upper()
    if algorithm and algorithm not in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        raise errors.InvalidRequest(f"Checksum algorithm {algorithm!r} is not supported.")
    if kind and kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise errors.InvalidRequest("x-amz-checksum-type must be COMPOSITE or FULL_OBJECT.")
    if kind == "FULL_OBJECT" and algorithm in ("SHA1", "SHA256"):
        raise errors.InvalidRequest(f"The FULL_OBJECT checksum type is not supported with "
                                    f"{algorithm}.")
    upload = await run_in_threadpool(store.uploads.create, bucket, key,
                                     attributes_from(headers), algorithm, kind)
    extra = {}
    if upload.checksum_algorithm:
        extra = {"x-amz-checksum-algorithm": upload.checksum_algorithm,
                 "x-amz-checksum-type": upload.checksum_type}
    inner = el("Bucket", bucket) + el("Key", key) + el("UploadId", upload.upload_id)
    return xml_response("InitiateMultipartUploadResult", inner, extra)


async def upload_part(store: LocalObjectStore, call: Call, bucket: str, key: str) -> Response:
    query, headers = call.request.query_params, call.request.headers
    number = _part_number(query.get("partNumber", ""))
    upload = await run_in_threadpool(store.uploads.get, bucket, key, query.get("uploadId", ""))
    if "x-amz-copy-source" in headers:
        return await _upload_part_copy(store, call, upload, number)
    declared_length(headers)
    wanted = requested_checksums(headers)
    algorithms = {**wanted}
    if upload.checksum_algorithm:
        algorithms.setdefault(upload.checksum_algorithm, "")
    blob = await receive_blob(call, store.blobs.writer(algorithms), wanted)
    part = await run_in_threadpool(store.uploads.put_part, upload, number, blob)
    extra = {}
    if part.checksum:
        extra[f"x-amz-checksum-{upload.checksum_algorithm.lower()}"] = part.checksum
    return Response(b"", 200, headers={"ETag": part.etag, **extra})


async def _upload_part_copy(store: LocalObjectStore, call: Call, upload: UploadInfo,
                            number: int) -> Response:
    headers = call.request.headers
    source = await _copy_source(store, headers)
    start, length = 0, source.size
    if "x-amz-copy-source-range" in headers:
        span = parse_range(headers["x-amz-copy-source-range"], source.size)
        if span is None:
            raise errors.InvalidArgument("The x-amz-copy-source-range value must be of the form "
                                         "bytes=first-last.")
        start, length = span[0], span[1] - span[0] + 1
    algorithms = [upload.checksum_algorithm] if upload.checksum_algorithm else []

    def copy() -> WrittenBlob:
        writer = store.blobs.writer(algorithms)
        try:
            for chunk in store.iter_range(source, start, length):
                writer.write(chunk)
            return writer.finish()
        except BaseException:
            writer.discard()
            raise

    blob = await run_in_threadpool(copy)
    part = await run_in_threadpool(store.uploads.put_part, upload, number, blob)
    inner = el("ETag", part.etag) + el("LastModified", iso_date(part.last_modified))
    return xml_response("CopyPartResult", inner)


async def complete_multipart_upload(store: LocalObjectStore, call: Call, bucket: str,
                                    key: str) -> Response:
    headers = call.request.headers
    upload = await run_in_threadpool(store.uploads.get, bucket, key,
                                     call.request.query_params["uploadId"])
    requested, checks = await _parts_document(call.body, headers)
    parts, _ = await run_in_threadpool(store.uploads.list_parts, upload, 0, MAX_PART_NUMBER)
    stored = {p.part_number: p.checksum for p in parts}
    for number, given in checks.items():
        if given and stored.get(number) and given != stored[number]:
            raise errors.InvalidPart(f"The checksum of part {number} does not match the "
                                     f"checksum it was uploaded with.", PartNumber=str(number))
    expected = ""
    if upload.checksum_type == "FULL_OBJECT" and upload.checksum_algorithm:
        expected = headers.get(f"x-amz-checksum-{upload.checksum_algorithm.lower()}", "")
    info = await run_in_threadpool(store.uploads.complete, upload, requested, expected)
    inner = (el("Location", f"/{bucket}/{key}") + el("Bucket", bucket) + el("Key", key)
             + el("ETag", info.etag))
    if info.checksum.algorithm:
        inner += (el(f"Checksum{info.checksum.algorithm}", info.checksum.value)
                  + el("ChecksumType", info.checksum.type))
    return xml_response("CompleteMultipartUploadResult", inner)


async def _parts_document(body: Body, headers: Mapping[str, str]
                          ) -> tuple[list[tuple[int, str]], dict[int, str]]:
    raw = await body.read(MAX_XML_BODY)
    verify_small_body({k: v for k, v in headers.items() if k == "content-md5"}, raw)
    root = parse_xml(raw)
    requested, checks = [], {}
    for node in root.findall("Part"):
        number = _part_number(child_text(node, "PartNumber"), malformed_xml=True)
        requested.append((number, child_text(node, "ETag")))
        for child in node:
            if isinstance(child.tag, str) and child.tag.startswith("Checksum") \
                    and child.tag != "ChecksumType":
                checks[number] = (child.text or "").strip()
    if not requested:
        raise errors.MalformedXML("The XML you provided was not well-formed or did not "
                                  "validate against our published schema: no Part given.")
    return requested, checks


async def list_parts(store: LocalObjectStore, call: Call, bucket: str, key: str) -> Response:
    query = call.request.query_params
    upload = await run_in_threadpool(store.uploads.get, bucket, key, query["uploadId"])
    marker = _int_param(query.get("part-number-marker", "0"), "part-number-marker")
    max_parts = min(_int_param(query.get("max-parts", "1000"), "max-parts"), 1000)
    parts, truncated = await run_in_threadpool(store.uploads.list_parts, upload, marker,
                                               max_parts)
    algorithm = upload.checksum_algorithm
    items = "".join(
        f"<Part>{el('PartNumber', p.part_number)}{el('LastModified', iso_date(p.last_modified))}"
        f"{el('ETag', p.etag)}{el('Size', p.size)}"
        f"{el(f'Checksum{algorithm}', p.checksum) if algorithm and p.checksum else ''}</Part>"
        for p in parts)
    inner = (el("Bucket", bucket) + el("Key", key) + el("UploadId", upload.upload_id)
             + el("PartNumberMarker", marker)
             + el("NextPartNumberMarker", parts[-1].part_number if parts else 0)
             + el("MaxParts", max_parts) + el("IsTruncated", truncated)
             + f"<Initiator><ID>cove</ID><DisplayName>cove</DisplayName></Initiator>{OWNER}"
             + el("StorageClass", "STANDARD")
             + (el("ChecksumAlgorithm", algorithm) + el("ChecksumType", upload.checksum_type)
                if algorithm else "")
             + items)
    return xml_response("ListPartsResult", inner)


async def list_multipart_uploads(store: LocalObjectStore, call: Call, bucket: str) -> Response:
    query = call.request.query_params
    max_uploads = min(_int_param(query.get("max-uploads", "1000"), "max-uploads"), 1000)
    key_marker = query.get("key-marker", "")
    id_marker = query.get("upload-id-marker", "")
    uploads, truncated = await run_in_threadpool(
        store.uploads.list_uploads, bucket, query.get("prefix", ""), key_marker, id_marker,
        max_uploads)
    items = "".join(
        f"<Upload>{el('Key', u.key)}{el('UploadId', u.upload_id)}"
        f"<Initiator><ID>cove</ID><DisplayName>cove</DisplayName></Initiator>{OWNER}"
        f"{el('StorageClass', 'STANDARD')}{el('Initiated', iso_date(u.initiated))}</Upload>"
        for u in uploads)
    last = uploads[-1] if uploads else None
    inner = (el("Bucket", bucket) + el("KeyMarker", key_marker)
             + el("UploadIdMarker", id_marker)
             + el("NextKeyMarker", last.key if last and truncated else "")
             + el("NextUploadIdMarker", last.upload_id if last and truncated else "")
             + el("Prefix", query.get("prefix", "")) + el("MaxUploads", max_uploads)
             + el("IsTruncated", truncated) + items)
    return xml_response("ListMultipartUploadsResult", inner)


def _part_number(text: str, malformed_xml: bool = False) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        if malformed_xml:
            raise errors.MalformedXML(f"PartNumber {text!r} is not a number from 1 to 10000.")
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, "
                                     "inclusive", ArgumentName="partNumber", ArgumentValue=text)
    return number


def _int_param(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise errors.InvalidArgument(f"{name} must be an integer.") from exc
    if value < 0:
        raise errors.InvalidArgument(f"{name} must not be negative.")
    return value

