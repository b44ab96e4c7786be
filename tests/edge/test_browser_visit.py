"""The address `cove up` prints, opened in a browser, leads to the console; signed requests to
the same address keep their S3 meaning."""

from __future__ import annotations

from typing import Any

import requests

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_at_the_root_is_sent_to_the_console(cove: Any) -> None:
    answer = requests.get(cove.url + "/", headers={"Accept": HTML}, allow_redirects=False,
                          timeout=10)
    assert answer.status_code == 302
    assert answer.headers["location"] == "/ui/"
    followed = requests.get(cove.url + "/", headers={"Accept": HTML}, timeout=10)
    # the console: its sign-in page for a browser without a session
    assert followed.url.endswith("/ui/") and "<html" in followed.text.lower()


def test_signed_and_non_browser_requests_keep_s3_semantics(cove: Any, bucket: str) -> None:
    names = [b["Name"] for b in cove.client("s3").list_buckets()["Buckets"]]
    assert bucket in names
    # unsigned, not asking for HTML (curl, an SDK without credentials): S3's own refusal
    bare = requests.get(cove.url + "/", timeout=10)
    assert bare.status_code == 403 and "<Code>" in bare.text
    # a query (a presigned ListBuckets or a forged one) is never redirected
    forged = requests.get(cove.url + "/?X-Amz-Credential=x", headers={"Accept": HTML},
                          allow_redirects=False, timeout=10)
    assert forged.status_code != 302
    # a POST or another path is S3's too
    other = requests.get(cove.url + "/" + bucket, headers={"Accept": HTML},
                         allow_redirects=False, timeout=10)
    assert other.status_code == 403
