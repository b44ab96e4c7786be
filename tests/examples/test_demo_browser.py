"""`cove demo` as a user runs it (the default demo: generated everyday reviews), its API asked
the everyday reviews of ``everyday_reviews.txt``, and the page it serves used in a real
(headless) Chromium: type a review, submit, read the verdict that came back through the API,
the function and the endpoint; after Ctrl-C, the page says the model is gone."""

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
from typing import Any

import boto3
import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Demo:
    """`cove demo` running in the background; its output collected as it comes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                    "COVE_HOME": str(home), "COVE_PORT": "0", "COLUMNS": "200"}
        # started as a shell's background job is (CI, `make demo &`): with SIGINT ignored,
        # so the Ctrl-C below only works if the demo handles SIGINT itself
        self.proc = subprocess.Popen([sys.executable, "-m", "cove", "demo"],
                                     env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=_ignore_sigint)
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


EVERYDAY = Path(__file__).with_name("everyday_reviews.txt")


def everyday_reviews() -> list[tuple[str, str]]:
    """(review, "positive" | "negative") from the list, comments left out."""
    lines = [line.split("\t", 1) for line in EVERYDAY.read_text().splitlines()
             if line[:1] in "+-"]
    return [(review.strip(), "positive" if sign == "+" else "negative")
            for sign, review in lines]


def ask(api_url: str, review: str) -> tuple[int, dict[str, object]]:
    answer = requests.post(api_url, data=review.encode(), timeout=60)
    return answer.status_code, answer.json()


def test_the_everyday_list_is_long_and_balanced() -> None:
    reviews = everyday_reviews()
    assert len(reviews) >= 50
    assert 0.4 < sum(v == "positive" for _, v in reviews) / len(reviews) < 0.6


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs the Debian chromium package "
                    "(.ci/run installs it)")
def test_demo_serves_a_page_that_reads_reviews(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    demo = Demo(tmp_path / "home")
    try:
        page_url = demo.wait_for(r"Open the page:\s*(\S+)", timeout=480).group(1)
        # the curl line is printed plain, on a line of its own (no box around it)
        api_url = demo.wait_for(r"\ncurl -X POST --data '[^']*' (\S+)\n", timeout=30).group(1)
        accuracy = float(demo.wait_for(r"Test accuracy:\s*([0-9.]+)", timeout=30).group(1))
        assert accuracy > 0.75
        vocabulary = int(demo.wait_for(r"vocabulary: ([0-9,]+) words", timeout=30).group(1)
                         .replace(",", ""))
        assert "everyday reviews generated from the VADER sentiment lexicon" in "".join(
            demo.output)
        # none of the SDK's import-time notes above the demo's own lines
        assert "DeprecationWarning" not in "".join(demo.output)
        assert "Not applying SDK defaults" not in "".join(demo.output)
        # the everyday reviews, through the HTTP API as the printed curl line calls it
        reviews = everyday_reviews()
        wrong = []
        for review, verdict in reviews:
            status, answer = ask(api_url, review)
            assert status == 200, (review, answer)
            if answer["verdict"] != verdict:
                wrong.append((review, verdict, answer))
        right = 1 - len(wrong) / len(reviews)
        print(f"everyday reviews: {right:.3f} right ({len(reviews) - len(wrong)} of "
              f"{len(reviews)}); wrong: {wrong}")
        assert right >= 0.9, wrong
        # no known word: a clear answer, not an error
        status, answer = ask(api_url, "Xyzzy plugh qwfp!")
        assert status == 200 and answer["verdict"] == "unknown"
        assert answer["message"] == ("Can't tell: none of these words is in the model's "
                                     f"vocabulary ({vocabulary:,} words).")
        status, answer = ask(api_url, "   ")
        assert status == 400 and answer["message"] == "Send a review in the body."
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(page_url)
            assert page.get_by_label("Your review").is_visible()
            for review, verdict in (
                    ("A wonderful, moving film. The acting was superb and the story was "
                     "brilliant; the ending was beautiful.", "POSITIVE"),
                    ("This movie is bad.", "NEGATIVE"),
                    ("I hated it. Worst film ever.", "NEGATIVE")):
                submit(page, review)
                assert page.inner_text("#result") == f"Your review was {verdict}!"
            # Ctrl-C: the demo deletes the endpoint it made (and says so), cove keeps running
            demo.proc.send_signal(signal.SIGINT)
            assert demo.proc.wait(timeout=60) == 0, "".join(demo.output)
            assert "Deleted the endpoint" in "".join(demo.output)
            submit(page, "Good movie, I loved it!")
            gone = page.inner_text("#result")
            assert "the model is gone" in gone.lower(), gone
            browser.close()
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


def submit(page: Any, review: str) -> None:
    page.evaluate("document.getElementById('result').textContent = ''")
    page.get_by_label("Your review").fill(review)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_function("/[!.]$/.test(document.getElementById('result').textContent)",
                           timeout=60_000)


def test_demo_with_missing_data_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "COVE_HOME": str(tmp_path / "home"), "COVE_PORT": "0"}
    out = subprocess.run([sys.executable, "-m", "cove", "demo", "--data",
                          str(tmp_path / "nope.csv")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    assert "nope.csv: no such file or directory" in out.stderr
    assert not (tmp_path / "home" / "server.json").exists()  # nothing started
