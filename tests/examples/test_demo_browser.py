"""`cove demo` as a user runs it, and the page it serves used in a real (headless) Chromium:
type a review, submit, read the verdict that came back through the API, the function and the
endpoint."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class Demo:
    """`cove demo` running in the background; its output collected as it comes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                    "COVE_HOME": str(home), "COVE_PORT": "0", "COLUMNS": "200"}
        self.proc = subprocess.Popen([sys.executable, "-m", "cove", "demo", "--rounds", "60"],
                                     env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, "".join(self.output))
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in the demo's output:\n{''.join(self.output)}")

    def down(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        subprocess.run([sys.executable, "-m", "cove", "down"], env=self.env, timeout=60,
                       capture_output=True)


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs the Debian chromium package "
                    "(.ci/run installs it)")
def test_demo_serves_a_page_that_reads_reviews(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    demo = Demo(tmp_path / "home")
    try:
        page_url = demo.wait_for(r"Open the page:\s*(\S+)", timeout=240).group(1)
        api_url = demo.wait_for(r"--data '[^']*' (\S+)", timeout=5).group(1)
        accuracy = float(demo.wait_for(r"Test accuracy:\s*([0-9.]+)", timeout=5).group(1))
        assert accuracy > 0.75
        # the API on its own, as the printed curl line calls it
        assert requests.post(api_url, data="The acting was wonderful and the story brilliant.",
                             timeout=30).text == "1"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(page_url)
            assert page.get_by_label("Your review").is_visible()
            for review, verdict in (
                    ("A wonderful, moving film. The acting was superb and the story was "
                     "brilliant; the ending was beautiful.", "POSITIVE"),
                    ("Two hours of my life wasted. The plot was boring, the dialogue was awful "
                     "and the pacing was tedious.", "NEGATIVE")):
                page.get_by_label("Your review").fill(review)
                page.get_by_role("button", name="Submit").click()
                page.wait_for_function(
                    "document.getElementById('result').textContent.includes('!')",
                    timeout=30_000)
                assert page.inner_text("#result") == f"Your review was {verdict}!"
            browser.close()
        # Ctrl-C: the demo deletes the endpoint it made (and says so), cove keeps running
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(timeout=60) == 0, "".join(demo.output)
        assert "Deleted the endpoint" in "".join(demo.output)
        creds = (tmp_path / "home" / "credentials.json").read_text()
        record = (tmp_path / "home" / "server.json").read_text()
        import json

        sm = boto3.client("sagemaker", endpoint_url=json.loads(record)["url"],
                          region_name="us-east-1",
                          aws_access_key_id=json.loads(creds)["access_key_id"],
                          aws_secret_access_key=json.loads(creds)["secret_access_key"])
        deadline = time.monotonic() + 30
        while sm.list_endpoints()["Endpoints"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert sm.list_endpoints()["Endpoints"] == []
    finally:
        demo.down()
