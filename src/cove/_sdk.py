"""``cove.sagemaker_session()`` and ``cove.execution_role()``: the SageMaker SDK pointed at the
running cove, for code outside a notebook instance (inside one, ``sagemaker.Session()`` and
``get_execution_role()`` already are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from cove import errors
from cove.config import Config, load_config
from cove.notebooks._environment import default_bucket


class NotRunning(errors.ClientError):
    code = "NotRunning"


def execution_role(home: Path | str | None = None) -> str:
    """The role ARN to give the SDK's estimators and models (what ``get_execution_role()``
    returns in a cove notebook instance)."""
    return load_config(_path(home)).credentials().execution_role_arn


def write_sdk_config(config: Config) -> Path:
    """The SageMaker SDK's config file for this home, which ``cove env`` points
    ``SAGEMAKER_USER_CONFIG_OVERRIDE`` at (``sdk_config_text``: no telemetry, the default
    bucket, the execution role); written only when it changes."""
    path = config.home / "sagemaker-config.yaml"
    creds = config.credentials()
    text = sdk_config_text(default_bucket(config.region, creds.account_id),
                           creds.execution_role_arn)
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
    from cove._sdk_polls import quick_session_class

    session_class = quick_session_class(_session_class())  # its waits look each second
    from cove.config import read_server_file

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


def sdk_config_text(bucket: str, role: str) -> str:
    """The SageMaker SDK's config file for code outside a notebook: no telemetry (its call to
    AWS fails with chained tracebacks), the default bucket (else ``Session()`` asks AWS's STS
    for the account) and the execution role for jobs, models and pipelines."""
    return ("SchemaVersion: '1.0'\n"
            "SageMaker:\n"
            "  PythonSDK:\n"
            "    Modules:\n"
            "      TelemetryOptOut: true\n"
            "      Session:\n"
            f"        DefaultS3Bucket: {bucket}\n"
            + "".join(f"  {resource}:\n    {key}: {role}\n" for resource, key in (
                ("TrainingJob", "RoleArn"), ("ProcessingJob", "RoleArn"),
                ("Model", "ExecutionRoleArn"), ("Pipeline", "RoleArn"))))


def client_environment(home: Path | None = None) -> dict[str, str]:
    """What ``cove env`` exports and ``cove run`` sets: the running cove's URL, credentials and
    region, and the SDK config file (written to ``$COVE_HOME/sagemaker-config.yaml``)."""
    from cove.config import read_server_file

    config = load_config(home)
    record = read_server_file(config.home)
    url = record["url"] if record else f"http://{config.host}:{config.port}"
    creds = config.credentials()
    sdk_file = write_sdk_config(config)
    return {"AWS_ENDPOINT_URL": str(url), "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
            "AWS_DEFAULT_REGION": config.region, "AWS_REGION": config.region,
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sdk_file),
            # SDK v2 warns, in six lines, at each class a README example uses: the first
            # hour's reader takes them for errors (v3 works too: see the README)
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
