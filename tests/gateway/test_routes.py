"""Route selection and the token bucket, as units."""

from __future__ import annotations

import pytest

from cove import errors
from cove.gateway._routes import choose, compile_route
from cove.gateway._throttle import TokenBucket


def pick(keys: list[str], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = choose([compile_route(k, {}) for k in keys], method, path)
    return (found[0].key, found[1]) if found else None


def test_most_specific_route_wins() -> None:
    keys = ["$default", "ANY /{proxy+}", "GET /pets/{id}", "GET /pets/dog", "ANY /pets/{id}",
            "POST /pets/{id}/toys/{toy+}"]
    assert pick(keys, "GET", "/pets/dog") == ("GET /pets/dog", {})
    assert pick(keys, "GET", "/pets/7") == ("GET /pets/{id}", {"id": "7"})
    assert pick(keys, "PUT", "/pets/7") == ("ANY /pets/{id}", {"id": "7"})
    assert pick(keys, "POST", "/pets/7/toys/a/b") == ("POST /pets/{id}/toys/{toy+}",
                                                      {"id": "7", "toy": "a/b"})
    assert pick(keys, "GET", "/a/b/c") == ("ANY /{proxy+}", {"proxy": "a/b/c"})
    assert pick(keys, "GET", "/") == ("$default", {})
    assert pick(["GET /x"], "GET", "/y") is None
    assert pick(["GET /x"], "POST", "/x") is None
    assert pick(["GET /a.b/{file.name}"], "GET", "/a.b/c.txt") == (
        "GET /a.b/{file.name}", {"file.name": "c.txt"})


@pytest.mark.parametrize("key", ["GET", "GET x", "FETCH /x", "GET /{a+}/b", "GET /{a"])
def test_bad_route_keys(key: str) -> None:
    with pytest.raises(errors.BadRequest):
        compile_route(key, {})


def test_token_bucket_rate_and_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back at 2/s
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 10  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3
