"""Static website hosting: PutBucketWebsite / GetBucketWebsite / DeleteBucketWebsite, and the
public site itself at ``/site/<bucket>/<key>``.

S3 serves a website from its own host name (``<bucket>.s3-website-<region>.amazonaws.com``);
cove has one port, so a website lives under a path on it instead, and its pages are
sandboxed (``Content-Security-Policy: sandbox``, scripts allowed): each runs in an opaque
origin of its own, so one site cannot read another's pages or cove's cookies, and its requests
to a gateway API carry ``Origin: null`` (an API whose CORS allows ``*`` answers them).  Only
buckets with a website configuration are served, only by GET/HEAD, and only their objects —
never a listing: turning the website on is what makes a bucket public, as a public-read policy
does on S3.
"""

from __future__ import annotations

import html
import mimetypes
from urllib.parse import unquote

from sqlalchemy import delete, insert, select
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cove import errors
from cove.meta import Database
from cove.meta.tables import bucket_websites
from cove.objects._base import DEFAULT_CONTENT_TYPE, ObjectInfo
from cove.objects._public_access import PublicAccessBlocks
from cove.objects._s3wire import child_text, el, parse_xml, xml_response
from cove.objects._store import LocalObjectStore
from cove.wire import SANDBOX_CSP

PREFIX = "/site"


class Websites:
    def __init__(self, db: Database, store: LocalObjectStore) -> None:
        self.db, self.store = db, store
        self.public_access = PublicAccessBlocks(db, store)

    def put(self, bucket: str, body: bytes) -> None:
        root = parse_xml(body)
        index = root.find("IndexDocument")
        suffix = child_text(index, "Suffix") if index is not None else ""
        if root.find("RedirectAllRequestsTo") is not None:
            raise errors.NotImplementedByCove(
                "cove's website hosting serves objects; RedirectAllRequestsTo is not supported.")
        if not suffix or "/" in suffix:
            raise errors.InvalidArgument(
                "A website configuration needs IndexDocument.Suffix, a name without a slash "
                "(e.g. index.html).")
        error = root.find("ErrorDocument")
        error_key = child_text(error, "Key") if error is not None else ""
        with self.db.write() as conn:
            self.store.require_bucket(conn, bucket)
            conn.execute(delete(bucket_websites).where(bucket_websites.c.bucket == bucket))
            conn.execute(insert(bucket_websites).values(
                bucket=bucket, index_document=suffix, error_document=error_key or None))

    def get(self, bucket: str) -> tuple[str, str | None]:
        with self.db.read() as conn:
            self.store.require_bucket(conn, bucket)
            row = conn.execute(select(bucket_websites).where(
                bucket_websites.c.bucket == bucket)).first()
        if row is None:
            raise errors.NoSuchWebsiteConfiguration(
                "The specified bucket does not have a website configuration", BucketName=bucket)
        return row.index_document, row.error_document

    def delete(self, bucket: str) -> None:
        with self.db.write() as conn:
            self.store.require_bucket(conn, bucket)
            conn.execute(delete(bucket_websites).where(bucket_websites.c.bucket == bucket))

    def configuration_xml(self, bucket: str) -> Response:
        index, error = self.get(bucket)
        inner = f"<IndexDocument>{el('Suffix', index)}</IndexDocument>"
        if error:
            inner += f"<ErrorDocument>{el('Key', error)}</ErrorDocument>"
        return xml_response("WebsiteConfiguration", inner)

    # --- the public site --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._serve(scope)
        await response(scope, receive, send)

    async def _serve(self, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            return _page(405, "Method Not Allowed", "A website answers GET and HEAD only.")
        bucket, _, key = unquote(scope["path"][len(PREFIX) + 1:]).partition("/")
        try:
            index, error = await run_in_threadpool(self.get, bucket)
        except (errors.NoSuchBucket, errors.NoSuchWebsiteConfiguration):
            return _page(404, "Not Found", "No website is hosted here.")
        if await run_in_threadpool(self.public_access.restricts, bucket):
            return _page(403, "Forbidden", "The bucket's PublicAccessBlock configuration "
                         "blocks public access to it (RestrictPublicBuckets).")
        if not key or key.endswith("/"):
            key += index
        info = await self._find(bucket, key)
        # S3's website rule: /docs → /docs/ (then docs/index.html) when that exists
        if info is None and "." not in key.rsplit("/", 1)[-1] and \
                await self._find(bucket, f"{key}/{index}") is not None:
            return Response(b"", 302, headers={"Location": f"{scope['path']}/"})
        if info is None:
            page = await self._find(bucket, error) if error else None
            if page is None:
                return _page(404, "Not Found", f"The key {key!r} does not exist.")
            return self._object(page, 404, scope["method"])
        return self._object(info, 200, scope["method"])

    async def _find(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            return await run_in_threadpool(self.store.head_object, bucket, key)
        except errors.NoSuchKey:
            return None

    def _object(self, info: ObjectInfo, status: int, method: str) -> Response:
        content_type = info.attributes.content_type
        if content_type == DEFAULT_CONTENT_TYPE:  # uploaded without one: guess like a browser
            content_type = mimetypes.guess_type(info.key)[0] or content_type
        headers = {"ETag": info.etag, "Content-Length": str(info.size),
                   "Cache-Control": info.attributes.headers.get("Cache-Control", "no-cache"),
                   "Content-Security-Policy": SANDBOX_CSP}
        if method == "HEAD":
            return Response(b"", status, headers=headers, media_type=content_type)
        chunks = iterate_in_threadpool(self.store.iter_range(info, 0, info.size))
        return StreamingResponse(chunks, status, headers=headers, media_type=content_type)


def _page(status: int, title: str, detail: str) -> Response:
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status} {title}</title>"
            f"<h1>{status} {title}</h1><p>{html.escape(detail)}</p></html>")
    return Response(body, status, media_type="text/html",
                    headers={"Content-Security-Policy": SANDBOX_CSP})
