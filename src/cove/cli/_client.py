"""How CLI commands reach the running server: boto3 clients signed with cove's credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from cove.config import Config, load_config
from cove.errors import CoveError


class NotRunning(CoveError):
    code = "NotRunning"
    status = 1


class ServerAnswer(CoveError):
    """An error cove's own API answered with (its code and message)."""

    code = "ServerAnswer"
    status = 1


def running_config(home: Path | None) -> tuple[Config, str]:
    from cove.config import read_server_file

    config = load_config(home)
    record = read_server_file(config.home)
    if record is None:
        raise NotRunning(f"cove is not running (home {config.home}); start it with "
                         "`cove up --detach`.")
    return config, str(record["url"])


def client(service: str, home: Path | None) -> Any:
    config, url = running_config(home)
    creds = config.credentials()
    return boto3.session.Session().client(
        service, endpoint_url=url, region_name=config.region,
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


def cove_call(operation: str, home: Path | None, params: dict[str, Any] | None = None,
              timeout: float = 10.0) -> dict[str, Any]:
    """One of cove's own signed operations (``X-Amz-Target: Cove.<operation>``)."""
    import json
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    config, url = running_config(home)
    creds = config.credentials()
    request = AWSRequest("POST", url + "/", data=json.dumps(params or {}).encode(), headers={
        "X-Amz-Target": f"Cove.{operation}", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key), "cove",
              config.region).add_auth(request)
    prepared = request.prepare()
    try:
        with urllib.request.urlopen(urllib.request.Request(
                prepared.url, data=prepared.body, headers=dict(prepared.headers),
                method="POST"), timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # cove answered with an error document
        raise ServerAnswer(_error_text(exc.read())) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise NotRunning(unreachable(url, exc)) from exc
    return answer


def unreachable(url: str, exc: BaseException) -> str:
    """One line: cove was recorded as running at ``url`` but does not answer there."""
    reason = getattr(exc, "reason", None) or exc
    return (f"cove does not answer at {url} ({reason}); `cove status` shows its state, "
            "`cove up` starts it.")


def _error_text(body: bytes) -> str:
    import json

    try:
        error = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:200]
    return f"{error.get('__type', 'Error')}: {error.get('message', '')}"
