"""Builds one cached environment; runs inside the sandbox (``_envs.py`` starts it):
``python -m cove.training._envbuild ENV_DIR REQUIREMENTS SITE_PACKAGES...``.

The environment is a virtualenv layered on cove's packages (they count as installed; new ones
go on top), and pip runs in the requirements file's directory, as the SageMaker training
toolkit runs it, so a relative path in the file (``./vendored/pkg``) means one in the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(env_dir: Path, requirements: Path, site_packages: list[str]) -> int:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(env_dir)],
                   check=True)
    site_dir = next((env_dir / "lib").glob("python*/site-packages"))
    (site_dir / "_cove_base.pth").write_text("".join(
        f"import site; site.addsitedir({path!r})\n" for path in site_packages))
    return subprocess.run([sys.executable, "-m", "pip", "--python",
                           str(env_dir / "bin" / "python"), "install",
                           "--disable-pip-version-check", "--no-input", "-r",
                           str(requirements)], cwd=requirements.parent).returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))
