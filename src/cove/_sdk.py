"""``cove.sagemaker_session()`` and ``cove.execution_role()``: the SageMaker SDK pointed at the
running cove, for code outside a notebook instance (inside one, ``sagemaker.Session()`` and
``get_execution_role()`` already are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from cove import errors
from cove.config import Config, load_config
from cove.notebooks._environment import default_bucket, sdk_config


class NotRunning(errors.ClientError):
    code = "NotRunning"


def execution_role(home: Path | str | None = None) -> str:
    """The role ARN to give the SDK's estimators and models (what ``get_execution_role()``
    returns in a cove notebook instance)."""
    return load_config(_path(home)).credentials().execution_role_arn


def write_sdk_config(config: Config) -> Path:
    """The SageMaker SDK's config file for this home (no telemetry, the default bucket), which
    ``cove env`` points ``SAGEMAKER_USER_CONFIG_OVERRIDE`` at: with it SDK v3's ``Session()``
    and ``default_bucket()`` never ask AWS's own STS for the account."""
    path = config.home / "sagemaker-sdk-config.yaml"
    text = sdk_config(default_bucket(config.region, config.credentials().account_id))
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def sagemaker_session(home: Path | str | None = None) -> Any:
    """A ``sagemaker.Session`` for the cove running for ``home`` (``$COVE_HOME``, else
    ``~/.cove``): its URL, credentials and region, the default bucket
    ``sagemaker-<region>-<account>`` and no telemetry.  Every AWS client the SDK makes from it
    talks to cove."""
    session_class = _session_class()
    from cove.server import read_server_file

    config = load_config(_path(home))
    record = read_server_file(config.home)
    if record is None:
        raise NotRunning(f"cove is not running (home {config.home}); start it with "
                         "`cove up --detach`.")
    credentials = config.credentials()
    boto_session = _CoveBotoSession(str(record["url"]),
                                    aws_access_key_id=credentials.access_key_id,
                                    aws_secret_access_key=credentials.secret_access_key,
                                    region_name=config.region)
    bucket = default_bucket(config.region, credentials.account_id)
    sdk_config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {
        "TelemetryOptOut": True, "Session": {"DefaultS3Bucket": bucket}}}}}
    return session_class(boto_session=boto_session, default_bucket=bucket,
                         sagemaker_config=sdk_config)


def _session_class() -> Any:
    """SDK v2's ``sagemaker.session.Session``, or v3's (``sagemaker.core``): same arguments."""
    try:
        import sagemaker.session

        return sagemaker.session.Session
    except ImportError:
        pass
    try:
        from sagemaker.core.helper import session_helper
    except ImportError as exc:
        raise errors.ClientError("the SageMaker Python SDK is not installed: "
                                 "pip install 'cove[notebook]'") from exc
    return session_helper.Session


class _CoveBotoSession(boto3.Session):  # type: ignore[misc]
    """A boto3 session whose every client and resource talks to cove — including the ones the
    SDK points at AWS's own regional endpoints (STS)."""

    def __init__(self, endpoint_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cove_endpoint_url = endpoint_url

    def client(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["endpoint_url"] = self.cove_endpoint_url
        return super().client(*args, **kwargs)

    def resource(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["endpoint_url"] = self.cove_endpoint_url
        return super().resource(*args, **kwargs)


def _path(home: Path | str | None) -> Path | None:
    return Path(home) if home is not None else None
