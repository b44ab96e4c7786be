"""The BentoML peer: a BentoML 1.2+ service with two workers serving the same booster.

    BENCH_MODEL=/path/xgboost-model bentoml serve bento_service:Sentiment --working-dir DIR

The API takes the raw CSV body (a positional-only ``str`` parameter is BentoML's "root input":
the body as is, whatever its Content-Type) and returns the predictions as text.  The handler is
a plain ``def``, as BentoML recommends for CPU-bound work (it runs in BentoML's thread pool).
Access logging is off, as it is for cove and the bare app.
"""

from __future__ import annotations

import bentoml
from common import decode, encode, load_booster, predict


@bentoml.service(workers=2, logging={"access": {"enabled": False}},
                 traffic={"timeout": 60})
class Sentiment:
    def __init__(self) -> None:
        self.booster = load_booster()

    @bentoml.api(route="/invocations")
    def invocations(self, body: str, /) -> str:
        return encode(predict(self.booster, decode(body.encode())))
