"""What a notebook instance's JupyterLab and its kernels see: the instance's directories, the
SageMaker notebook metadata file, the SDK's config file, a kernelspec and the environment.

The layout of ``$COVE_HOME/notebooks/<name>/`` (kept across stop and start)::

    SageMaker/                          the user's files: JupyterLab's root (as on SageMaker)
    metadata/resource-metadata.json     the instance's name and ARN, as SageMaker writes it
    home/                               $HOME: Jupyter's and IPython's state, the SDK config
      .config/sagemaker/config.yaml     TelemetryOptOut, DefaultS3Bucket
      .local/share/jupyter/kernels/python3/kernel.json          cove's Python (SDK v2)
      .local/share/jupyter/kernels/sagemaker-sdk-v3/kernel.json an SDK v3 Python, if configured

In the bubblewrap sandbox the directory is mounted at ``/opt/ml``, so the metadata file is at
the path the SageMaker SDK reads (``/opt/ml/metadata/resource-metadata.json``) and
``sagemaker.get_execution_role()`` asks DescribeNotebookInstance for the role, as it does on
SageMaker.  Without the sandbox the kernel (``cove._notebook_kernel``) points the SDK at the
instance's own copy of that file instead.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cove._notebook_kernel import METADATA_VARIABLE
from cove.config import Credentials
from cove.notebooks._kernels import V3_KERNEL, Kernel
from cove.training._contract import base_environment
from cove.untrusted import ensure_directory, write_beneath

#: Jupyter's runtime directory (kernels' connection files), relative to the instance's
RUNTIME = "home/.local/share/jupyter/runtime"
#: The user's kernelspecs, relative to the instance's directory: cove writes its own there
KERNELS = "home/.local/share/jupyter/kernels"


@dataclass(frozen=True)
class InstanceDirectory:
    """One notebook instance's directory, on the host (``root``) and as its processes see it
    (``inside``: ``/opt/ml`` in the sandbox, else ``root`` itself)."""

    root: Path
    inside: Path

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def seen(self, *parts: str) -> Path:
        return self.inside.joinpath(*parts)

    @property
    def work(self) -> Path:
        """The user's files on the host."""
        return self.path("SageMaker")

    @property
    def runtime(self) -> Path:
        """Jupyter's runtime directory on the host: kernels' connection files."""
        return self.path(RUNTIME)


def default_bucket(region: str, account: str) -> str:
    """The SDK's own default bucket name, ``sagemaker-<region>-<account>``."""
    return f"sagemaker-{region}-{account}"


def prepare(directory: InstanceDirectory, name: str, arn: str, region: str,
            bucket: str, kernels: Sequence[Kernel]) -> None:
    """Write the files the instance's processes read (again at every start: cove may have
    moved, the kernels' interpreters may have changed; a kernel cove no longer offers goes)."""
    # The instance's code may have replaced any of these with links since the last start:
    # each is written beneath the instance's directory without following them.
    directory.root.mkdir(parents=True, exist_ok=True)
    for sub in ("SageMaker", "metadata", RUNTIME):
        os.close(ensure_directory(directory.root, sub))
    write_beneath(directory.root, "metadata/resource-metadata.json",
                  json.dumps({"ResourceArn": arn, "ResourceName": name}).encode())
    write_beneath(directory.root, "home/.config/sagemaker/config.yaml",
                  sdk_config(bucket).encode())
    for kernel in kernels:
        write_beneath(directory.root, f"{KERNELS}/{kernel.name}/kernel.json", kernel.json())
    if V3_KERNEL not in {kernel.name for kernel in kernels}:
        _remove_beneath(directory.root, KERNELS, V3_KERNEL)


def _remove_beneath(base: Path, parent: str, name: str) -> None:
    """Remove ``base/parent/name`` (a directory, file or link), following no link."""
    fd = ensure_directory(base, parent)
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def sdk_config(bucket: str) -> str:
    """The SageMaker SDK's config file: no telemetry (it would call AWS), and the default
    bucket (else ``Session.default_bucket()`` asks AWS's STS for the account)."""
    return ("SchemaVersion: '1.0'\n"
            "SageMaker:\n"
            "  PythonSDK:\n"
            "    Modules:\n"
            "      TelemetryOptOut: true\n"
            "      Session:\n"
            f"        DefaultS3Bucket: {bucket}\n")


def environment(directory: InstanceDirectory, endpoint_url: str, region: str,
                credentials: Credentials, token: str) -> dict[str, str]:
    """The JupyterLab server's environment, which its kernels inherit."""
    home = directory.seen("home")
    env = base_environment({
        "HOME": str(home),
        "JUPYTER_TOKEN": token,
        "JUPYTER_RUNTIME_DIR": str(directory.inside / "home/.local/share/jupyter/runtime"),
        "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        # in a virtualenv Jupyter prefers the environment's kernelspecs to the user's: the
        # instance's own python3 kernel (cove/_notebook_kernel.py) must win
        "JUPYTER_PREFER_ENV_PATH": "0",
        "AWS_ENDPOINT_URL": endpoint_url,
        **credentials.environment(),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # no ~/.aws of the host, no instance metadata service to time out on
        "AWS_CONFIG_FILE": str(home / ".aws/config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws/credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(home / ".config/sagemaker/config.yaml"),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "MPLCONFIGDIR": str(home / ".config/matplotlib"),
        METADATA_VARIABLE: str(directory.seen("metadata", "resource-metadata.json")),
    })
    # PYTHONDONTWRITEBYTECODE is for jobs; a user's own modules may as well be cached.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
