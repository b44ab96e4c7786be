"""Configuration helpers that guard secrets."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cove.config import secret_file


def test_a_secret_file_is_private_whole_and_the_same_for_every_racer(tmp_path: Path) -> None:
    path = tmp_path / "home" / "key"
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda _: secret_file(path, lambda: secrets.token_bytes(4096)),
                             range(32)))
    assert len(seen[0]) == 4096 and all(value == seen[0] for value in seen)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    assert secret_file(path, lambda: b"never used") == seen[0]
