#!/usr/bin/env python3
"""An S3 server that does next to nothing: the benchmark's ceiling, not a product.

It answers exactly the requests ``s3_throughput.py`` makes (CreateBucket, PutObject,
GetObject and HeadObject with ranges, and the three multipart calls ``upload_file`` uses)
from a dictionary in memory.  It checks no signature, hashes nothing, writes nothing to
disk and keeps no index: every byte it does not move is work a real server does.  What
boto3 achieves against it shows how much of a run is the client's own work.  It is a
reference, not a bound: being Python it still spends some CPU the client could have had,
and its one-``sendall`` answers to ranged GETs pace ``download_file`` worse than uvloop.

    python bench/bare_s3.py PORT        # serves on 127.0.0.1:PORT until killed
"""

from __future__ import annotations

import email.utils
import itertools
import re
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from io import BufferedIOBase

OBJECTS: dict[str, bytes] = {}
UPLOADS: dict[str, dict[int, bytes]] = {}
LOCK = threading.Lock()
UPLOAD_IDS = itertools.count(1)
RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
ETAG = '"00000000000000000000000000000000"'  # nothing is hashed: boto3 does not check it


class Handler(socketserver.StreamRequestHandler):
    rbufsize = 1 << 20
    wbufsize = 0  # responses go out with one sendall each

    def handle(self) -> None:
        # no Nagle: a response's head and body are two sends, and the second would wait
        # for the client's delayed ACK of the first
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while self.one_request(self.rfile):
            pass

    def one_request(self, rfile: BufferedIOBase) -> bool:
        line = rfile.readline(65537)
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = read_body(rfile, headers)
        path, _, query = target.partition("?")
        status, extra, payload = answer(method, urllib.parse.unquote(path),
                                        urllib.parse.parse_qs(query, keep_blank_values=True),
                                        headers, body)
        head = [f"HTTP/1.1 {status}", f"Content-Length: {len(payload)}",
                f"Date: {email.utils.formatdate(usegmt=True)}", "x-amz-request-id: bare",
                *(f"{k}: {v}" for k, v in extra.items())]
        self.connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD" and payload:
            self.connection.sendall(payload)
        return True


def read_body(rfile: BufferedIOBase, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int(rfile.readline().split(b";")[0], 16):
            chunks.append(rfile.read(size))
            rfile.readline()
        while rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)
    return rfile.read(int(headers.get("content-length", "0") or 0))


def answer(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
           body: bytes) -> tuple[str, dict[str, str], bytes | memoryview]:
    bucket, _, key = path.lstrip("/").partition("/")
    name = f"{bucket}/{key}"
    if not key:  # CreateBucket (and anything else on a bucket): yes
        return "200 OK", {}, b""
    if method == "PUT" and "uploadId" in query:
        with LOCK:
            UPLOADS[query["uploadId"][0]][int(query["partNumber"][0])] = body
        return "200 OK", {"ETag": ETAG}, b""
    if method == "PUT":
        OBJECTS[name] = body
        return "200 OK", {"ETag": ETAG}, b""
    if method == "POST" and "uploads" in query:
        upload = str(next(UPLOAD_IDS))
        with LOCK:
            UPLOADS[upload] = {}
        return "200 OK", {"Content-Type": "application/xml"}, xml(
            "InitiateMultipartUploadResult", Bucket=bucket, Key=key, UploadId=upload)
    if method == "POST" and "uploadId" in query:
        with LOCK:
            parts = UPLOADS.pop(query["uploadId"][0])
        OBJECTS[name] = b"".join(parts[n] for n in sorted(parts))
        return "200 OK", {"Content-Type": "application/xml"}, xml(
            "CompleteMultipartUploadResult", Bucket=bucket, Key=key, ETag=ETAG)
    if method in ("GET", "HEAD"):
        data = OBJECTS.get(name)
        if data is None:
            return "404 Not Found", {"Content-Type": "application/xml"}, xml(
                "Error", Code="NoSuchKey", Message="The specified key does not exist.")
        meta = {"ETag": ETAG, "Content-Type": "binary/octet-stream", "Accept-Ranges": "bytes",
                "Last-Modified": email.utils.formatdate(START, usegmt=True)}
        wanted = RANGE.match(headers.get("range", ""))
        if wanted is None:
            return "200 OK", meta, data
        first = int(wanted[1])
        last = min(int(wanted[2]) if wanted[2] else len(data) - 1, len(data) - 1)
        meta["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        return "206 Partial Content", meta, memoryview(data)[first:last + 1]  # no copy
    return "405 Method Not Allowed", {}, b""


def xml(root: str, **members: str) -> bytes:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in members.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} '
            f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</{root}>').encode()


START = time.time()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str]) -> int:
    with Server(("127.0.0.1", int(argv[1])), Handler) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
