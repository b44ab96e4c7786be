"""``cove demo``: the case study end to end — a movie-review sentiment model trained and deployed
on cove, answered through a function and an HTTP API, used from a web page.

Offline by default (generated reviews); ``--data`` takes the real IMDB reviews (an aclImdb
directory or a CSV), ``--download`` fetches them when the network allows.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from cove.config import Config
from cove.errors import CoveError

T = TypeVar("T")


class DemoError(CoveError):
    code = "DemoNeedsTheSDK"
    status = 1

DEMO_BUCKET = "cove-demo"
#: Generated everyday reviews when no --data is given: enough that the common words of the
#: lexicon each come up in dozens of training reviews.
EVERYDAY_SIZE = 30_000


def run_demo(config: Config, console: Console, data: str | None = None, download: bool = False,
             keep: bool = False, serve: bool = True, rounds: int | None = None) -> None:
    from cove.cli import start_detached
    from cove.examples.sentiment import data as reviews_data
    from cove.examples.sentiment.pipeline import EVERYDAY_HYPERPARAMETERS, SentimentApp

    _quiet_sdk()
    try:
        import sagemaker  # noqa: F401 - the demo trains through the SDK, as users do
    except ImportError:
        raise DemoError("The demo trains with the SageMaker Python SDK, which is not "
                        "installed: pip install 'cove[demo]' (make demo does).") from None

    if data is not None and not Path(data).expanduser().exists():
        raise DemoError(f"--data {data}: no such file or directory (give an aclImdb "
                        "directory or a CSV of reviews, or leave --data out for generated "
                        "everyday reviews)")
    record = start_detached(config)
    _point_clients_at(config, record["url"])
    app = SentimentApp(boto3.Session(region_name=config.region), DEMO_BUCKET)
    console.print(f"[bold]cove[/] is running at {record['url']} (home {config.home})")
    started = time.monotonic()

    reviews = _step(console, "data", lambda: reviews_data.load(
        data, cache=config.home / "datasets", download=download,
        synthetic_size=EVERYDAY_SIZE, everyday=True))
    console.print(f"    {len(reviews.train):,} training and {len(reviews.test):,} test reviews "
                  f"from {reviews.source}", soft_wrap=True)
    generated = "generated" in reviews.source
    prepared = _step(console, "preprocessing (words → bag of words)",
                     lambda: app.prepare(reviews))
    console.print(f"    vocabulary: {len(prepared.vocabulary):,} words (the most frequent of "
                  "the training reviews)")
    uris = _step(console, f"upload to s3://{DEMO_BUCKET}", lambda: app.upload(prepared))
    hyperparameters = EVERYDAY_HYPERPARAMETERS if generated else None
    job, model_data = _training(console, lambda on_log: app.train(uris, rounds, on_log,
                                                                  hyperparameters))
    endpoint = _step(console, "deploy the model to an endpoint", lambda: app.deploy(model_data))
    accuracy = _step(console, "measure it on the test reviews",
                     lambda: app.accuracy(endpoint, prepared))
    console.print(f"    test accuracy: [bold]{accuracy:.3f}[/] on {len(prepared.test):,} reviews")
    function = _step(console, "create the function (review → bag of words → endpoint)",
                     lambda: app.create_function(endpoint, prepared.vocabulary))
    api_url = _step(console, "create the HTTP API (POST /sentiment → function)",
                    lambda: app.create_api(function))
    page = _step(console, "publish the web page", lambda: app.publish_site(api_url,
                                                                           record["url"]))
    console.print(Panel.fit(
        f"[bold]Open the page:[/] {page}\n"
        f"[bold]Test accuracy:[/] {accuracy:.3f}    training job {job}, endpoint {endpoint}\n"
        f"Done in {time.monotonic() - started:.0f} s.", title="the sentiment app is live"))
    # plain, outside the box: a copied line must not pick up the box's │
    console.print("Or ask the API:")
    console.print(f"curl -X POST --data 'A moving, beautiful film.' {api_url}", soft_wrap=True,
                  markup=False, highlight=False)
    if not serve:
        console.print(f"The endpoint {endpoint} keeps running (and cove with it): "
                      f"`cove endpoints rm {endpoint}` deletes it, `cove down` stops cove.")
        return
    console.print("Serving until Ctrl-C" + ("." if keep else "; then the endpoint is deleted "
                                            "(--keep leaves it running)."))
    _wait_for_interrupt()
    if keep:
        console.print(f"The endpoint {endpoint} keeps running: `cove endpoints rm {endpoint}` "
                      "stops it. Have you shut down your endpoints?")
    else:
        app.delete_endpoint(endpoint)
        console.print(f"Deleted the endpoint {endpoint}: the page now answers that the model "
                      "is gone. cove itself keeps running (`cove down` stops it).")


def _point_clients_at(config: Config, url: str) -> None:
    """boto3 and the SageMaker SDK in this process talk to cove, as a user's would (what
    `cove run` gives a command)."""
    from cove._sdk import client_environment

    os.environ.update(client_environment(config.home))
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ.pop("AWS_SESSION_TOKEN", None)


def _quiet_sdk() -> None:
    """Before the SDK's import: it would print v2's deprecation and each config file it did
    not find, twice, above the demo's own output."""
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    for name in ("sagemaker", "sagemaker.config", "botocore", "boto3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _step(console: Console, title: str, work: Callable[[], T]) -> T:
    start = time.monotonic()
    with console.status(f"{title}…"):
        result = work()
    console.print(f"[green]✓[/] {title} [dim]({time.monotonic() - start:.1f} s)[/]")
    return result


def _training(console: Console,
              work: Callable[[Callable[[str], None]], tuple[str, str]]) -> tuple[str, str]:
    """Train with the job's log tailing live under a spinner."""
    lines: deque[str] = deque(maxlen=8)
    start = time.monotonic()

    def view() -> Group:
        return Group(Text(f"⠿ training with the built-in XGBoost… "
                          f"{time.monotonic() - start:.0f} s", style="bold"),
                     Text("\n".join(lines) or "(starting)", style="dim"))

    with Live(view(), console=console, refresh_per_second=4, transient=True) as live:
        def show(line: str) -> None:
            lines.append(line[:120])
            live.update(view())
        result = work(show)
    console.print(f"[green]✓[/] training job {result[0]} "
                  f"[dim]({time.monotonic() - start:.1f} s)[/]")
    return result


def _wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM.  SIGINT gets its own handler: a process started in the
    background by a shell (or by CI) inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt, so a `kill -INT` would be lost and the endpoint never deleted."""
    stop = threading.Event()
    with _handling(signal.SIGTERM, lambda *_: stop.set()), \
            _handling(signal.SIGINT, lambda *_: stop.set()):
        while not stop.wait(0.5):
            pass


@contextmanager
def _handling(sig: int, handler: Any) -> Iterator[None]:
    previous = signal.signal(sig, handler)
    try:
        yield
    finally:
        signal.signal(sig, previous)


__all__ = ["DEMO_BUCKET", "run_demo"]
