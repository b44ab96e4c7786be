"""The hand-written baseline: Starlette on uvicorn, one route, no auth, no routing layer.

    BENCH_MODEL=/path/xgboost-model uvicorn --app-dir bench/serving_peers bare_app:app --workers 2

Each uvicorn worker process loads the booster once and answers ``POST /invocations`` (a CSV
body) inline on its event loop: decode, ``inplace_predict``, the predictions as CSV.
"""

from __future__ import annotations

from common import decode, encode, load_booster, predict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

booster = load_booster()


async def invocations(request: Request) -> Response:
    body = await request.body()
    return Response(encode(predict(booster, decode(body))), media_type="text/csv")


async def ping(request: Request) -> Response:
    return Response(b"")


app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"]),
                        Route("/ping", ping, methods=["GET"])])
