"""Headless Chromium, signed in to the console: a bucket website page with hostile scripts tries
to read the console's data and act in it, and a gateway function tries to plant the console's
cookie.  Both fail: the console is another origin, and the content runs sandboxed."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.gateway.test_gateway import make_function

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs the Debian chromium "
                                "package (.ci/run installs it)")

#: Every way the page's script tries to reach the console; each records what it got.
HOSTILE = """<!doctype html><html><head><title>loading</title></head><body><pre id=out></pre>
<form id=signout method=post action="CONSOLE/ui/sign-out" target=sink></form>
<iframe name=sink></iframe>
<script>
const C = "CONSOLE", results = {};
async function attempt(name, fn) {
  try { results[name] = "GOT " + await fn(); } catch (e) { results[name] = "blocked: " + e; }
}
(async () => {
  await attempt("download", async () => (await fetch(
      C + "/ui/objects/secrets/download?key=secret.txt", {credentials: "include"})).text());
  await attempt("csrf", async () => {
    const html = await (await fetch(C + "/ui/", {credentials: "include"})).text();
    return html.match(/csrf-token" content="([0-9a-f]+)/)[1];
  });
  await attempt("upload", async () => (await fetch(
      C + "/ui/objects/secrets/upload?key=planted.txt",
      {method: "PUT", credentials: "include", body: "pwned"})).status);
  await attempt("blind-sign-out", async () => {
    await fetch(C + "/ui/sign-out", {method: "POST", mode: "no-cors", credentials: "include",
                                     body: new URLSearchParams({csrf: "guess"})});
    return "sent";
  });
  await attempt("cookie", async () => document.cookie + "|");
  await attempt("plant-cookie", async () => {
    document.cookie = "cove_session=planted; path=/ui"; return "set";
  });
  await attempt("api-port-ui", async () => (await fetch(
      "/ui/objects/secrets/download?key=secret.txt", {credentials: "include"})).text());
  document.getElementById("signout").submit();
  document.getElementById("out").textContent = JSON.stringify(results);
  document.title = "done";
})();
</script></body></html>"""

SET_COOKIE = """
def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "text/plain"},
            "cookies": ["cove_session=planted; Path=/ui", "cove_session=planted2; Path=/"],
            "body": "ok"}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CoveServer]:
    started = CoveServer(tmp_path / "home").start()
    yield started
    started.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _session_cookie(context: Any) -> str:
    values = [c["value"] for c in context.cookies() if c["name"] == "cove_session"]
    assert len(values) == 1, context.cookies()
    return str(values[0])


def test_a_website_page_and_a_function_cannot_reach_the_console(server: CoveServer,
                                                                browser: Any) -> None:
    from cove.console import mint_link

    s3 = server.client("s3")
    s3.create_bucket(Bucket="secrets")
    s3.put_object(Bucket="secrets", Key="secret.txt", Body=b"TOP-SECRET")
    s3.create_bucket(Bucket="hostile")
    s3.put_object(Bucket="hostile", Key="index.html", ContentType="text/html",
                  Body=HOSTILE.replace("CONSOLE", server.console_url).encode())
    s3.put_bucket_website(Bucket="hostile", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}})

    context = browser.new_context()
    page = context.new_page()
    page.goto(mint_link(server.home, server.console_url))
    assert page.url == server.console_url + "/ui/" and page.get_by_text("Dashboard").count()
    session = _session_cookie(context)

    page.goto(f"{server.url}/site/hostile/")
    page.wait_for_function("document.title === 'done'", timeout=60_000)
    results = json.loads(page.inner_text("#out"))
    for name in ("download", "csrf", "upload", "cookie", "plant-cookie", "api-port-ui"):
        assert results[name].startswith("blocked: "), (name, results)
    assert "TOP-SECRET" not in json.dumps(results)
    deadline = time.monotonic() + 60  # the form posted into the hidden frame has landed
    while not (page.frame(name="sink").url or "").endswith("/ui/sign-out"):
        assert time.monotonic() < deadline, page.frame(name="sink").url
        page.wait_for_timeout(100)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="secrets", Key="planted.txt")

    # a gateway function's cookies do not reach the browser
    api = server.client("apigatewayv2").create_api(
        Name="cookies", ProtocolType="HTTP", Target=make_function(server, SET_COOKIE))
    page.goto(api["ApiEndpoint"] + "/x")
    assert page.inner_text("body") == "ok"

    # still signed in, with the console's own cookie, after all of it
    assert _session_cookie(context) == session
    page.goto(server.console_url + "/ui/objects")
    assert page.url == server.console_url + "/ui/objects"
    assert page.get_by_role("link", name="secrets").count()
    context.close()
