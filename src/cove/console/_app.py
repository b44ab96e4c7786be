"""The console's routes: pages (HTML), actions (POST, CSRF-checked) and chart data (JSON).

Every path but sign-in and static files needs a session; without one a page answers with the
sign-in form (401) and a JSON endpoint with a 401 error, never data.  Actions go through the
same service methods the SageMaker and S3 APIs use, so they validate and fail the same way.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cove import errors
from cove.config import CONSOLE_PATH
from cove.console import _charts as charts
from cove.console import _compare as compare
from cove.console import _data as data
from cove.console._auth import COOKIE, SESSION_SECONDS, Forbidden, Session, Sessions, SignInFailed
from cove.console._mlops import MlopsPages
from cove.executors import describe
from cove.functions import configuration
from cove.hosting import describe_endpoint
from cove.notebooks import LOG_GROUP as NOTEBOOK_LOGS
from cove.notebooks import describe_notebook_instance
from cove.objects import Checksum, ObjectAttributes
from cove.processing import LOG_GROUP as PROCESSING_LOGS
from cove.processing import describe_processing_job
from cove.training import LOG_GROUP as TRAINING_LOGS
from cove.training import describe_training_job
from cove.transform import LOG_GROUP as TRANSFORM_LOGS
from cove.transform import describe_transform_job
from cove.units import human_size

if TYPE_CHECKING:
    from cove.server import Platform

PREFIX = CONSOLE_PATH
STATIC = Path(__file__).parent / "static"
OPEN_PATHS = (f"{PREFIX}/sign-in", f"{PREFIX}/static/")
SECURITY_HEADERS = {
    # Plotly sets inline styles on the elements it draws; scripts come only from /ui/static.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff", "referrer-policy": "same-origin",
    "cache-control": "no-store"}


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


#: What the "try it" box sends at most (InvokeEndpoint takes 6 MB; a box needs far less).
TRY_MAX_BYTES = 1 << 20


class Console:
    """The web console, an ASGI app at ``/ui`` on the console's own port."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.mlops = MlopsPages(self, PREFIX, platform.registry, platform.pipelines)
        self.sessions = Sessions(platform.db, platform.config.home, platform.credentials)
        self.templates = Environment(loader=PackageLoader("cove.console"),
                                     autoescape=select_autoescape(), trim_blocks=True,
                                     lstrip_blocks=True)
        self.templates.filters.update(when=_when, duration=_duration, size=human_size,
                                      number=short_number,
                                      quote=lambda v: quote(str(v), safe=""))
        # On every page while user code runs unconfined, or cannot run at all.
        sandbox = describe(platform.training.sandbox)
        self.templates.globals["sandbox_banner"] = "" if sandbox.startswith("bwrap") else sandbox
        self.app = Starlette(routes=self._routes(), exception_handlers={
            errors.CoveError: self._error})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if not path.startswith(OPEN_PATHS):
            session = await asyncio.to_thread(self.sessions.current, Request(scope))
            if session is None:
                await self._refuse(scope, receive, send)
                return
            scope.setdefault("state", {})["session"] = session
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(f"{PREFIX}/api/") or scope["method"] != "GET":
            response: Response = JSONResponse(
                {"code": "NotSignedIn", "message": "Sign in to the console first."}, 401)
        else:
            response = self._sign_in_page(Request(scope), "", scope["path"], 401)
        await response(scope, receive, send)

    def _routes(self) -> list[Route]:
        p = PREFIX
        return [
            Route(f"{p}/sign-in", self.sign_in_form, methods=["GET"]),
            Route(f"{p}/sign-in", self.sign_in, methods=["POST"]),
            Route(f"{p}/sign-in/link", self.sign_in_link, methods=["GET"]),
            Route(f"{p}/sign-out", self.sign_out, methods=["POST"]),
            Route(f"{p}/static/{{name}}", self.static),
            Route(p, lambda r: RedirectResponse(f"{p}/", 303)),
            Route(f"{p}/", self.dashboard),
            Route(f"{p}/training-jobs", self.training_list),
            # not under /training-jobs/: "compare" is a valid job name
            Route(f"{p}/training-compare", self.training_compare),
            Route(f"{p}/training-jobs/{{name}}", self.training_job),
            Route(f"{p}/training-jobs/{{name}}/stop", self.stop_training, methods=["POST"]),
            Route(f"{p}/processing-jobs", self.processing_list),
            Route(f"{p}/processing-jobs/{{name}}", self.processing_job),
            Route(f"{p}/processing-jobs/{{name}}/stop", self.stop_processing, methods=["POST"]),
            Route(f"{p}/tuning-jobs", self.tuning_list),
            Route(f"{p}/tuning-jobs/{{name}}", self.tuning_job),
            Route(f"{p}/tuning-jobs/{{name}}/stop", self.stop_tuning, methods=["POST"]),
            Route(f"{p}/endpoints", self.endpoint_list),
            Route(f"{p}/endpoints/{{name}}", self.endpoint),
            Route(f"{p}/endpoints/{{name}}/weights", self.change_weights, methods=["POST"]),
            Route(f"{p}/endpoints/{{name}}/stop", self.stop_endpoint, methods=["POST"]),
            Route(f"{p}/endpoints/{{name}}/invoke", self.try_endpoint, methods=["POST"]),
            Route(f"{p}/endpoints/{{name}}/delete", self.confirm_delete, methods=["GET"]),
            Route(f"{p}/endpoints/{{name}}/delete", self.delete_endpoint, methods=["POST"]),
            Route(f"{p}/transform-jobs", self.transform_list),
            Route(f"{p}/transform-jobs/{{name}}", self.transform_job),
            Route(f"{p}/transform-jobs/{{name}}/stop", self.stop_transform, methods=["POST"]),
            Route(f"{p}/functions", self.function_list),
            Route(f"{p}/functions/{{name}}", self.function),
            Route(f"{p}/gateway", self.gateway_list),
            Route(f"{p}/gateway/{{api_id}}", self.gateway_api),
            Route(f"{p}/objects", self.buckets),
            Route(f"{p}/objects/{{bucket}}", self.bucket),
            Route(f"{p}/objects/{{bucket}}/object", self.object_info),
            Route(f"{p}/objects/{{bucket}}/download", self.download),
            Route(f"{p}/objects/{{bucket}}/upload", self.upload, methods=["PUT"]),
            # One JSON endpoint per chart.
            Route(f"{p}/api/training-jobs/{{name}}/metrics", self.chart_training),
            Route(f"{p}/api/training-compare/metrics", self.chart_compared),
            Route(f"{p}/api/tuning-jobs/{{name}}/objective", self.chart_objective),
            Route(f"{p}/api/tuning-jobs/{{name}}/hyperparameters/{{param}}",
                  self.chart_hyperparameter),
            Route(f"{p}/api/endpoints/{{name}}/traffic", self.chart_traffic),
            Route(f"{p}/api/endpoints/{{name}}/latency", self.chart_latency),
            Route(f"{p}/notebook-instances", self.notebook_list),
            Route(f"{p}/notebook-instances/{{name}}", self.notebook),
            Route(f"{p}/notebook-instances/{{name}}/open", self.open_notebook),
            Route(f"{p}/notebook-instances/{{name}}/start", self.start_notebook,
                  methods=["POST"]),
            Route(f"{p}/notebook-instances/{{name}}/stop", self.stop_notebook, methods=["POST"]),
            *self.mlops.routes(),
        ]

    # --- rendering ----------------------------------------------------------------------------

    def render(self, request: Request, template: str, http_status: int = 200,
               **context: Any) -> HTMLResponse:
        session: Session | None = request.scope.get("state", {}).get("session")
        html = self.templates.get_template(template).render(
            prefix=PREFIX, csrf=session.csrf if session else "", path=request.url.path,
            now=time.time(), **context)
        return HTMLResponse(html, http_status, headers=SECURITY_HEADERS)

    def _sign_in_page(self, request: Request, message: str, next_path: str,
                      status: int = 200) -> HTMLResponse:
        return self.render(request, "sign_in.html", status, message=message,
                           next=next_path if next_path.startswith(PREFIX) else f"{PREFIX}/")

    async def _error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.CoveError)
        if isinstance(exc, SignInFailed):
            return self._sign_in_page(request, exc.message, f"{PREFIX}/", exc.status)
        if request.url.path.startswith(f"{PREFIX}/api/") or request.method == "PUT":
            return JSONResponse({"code": exc.code, "message": exc.message}, exc.status)
        status = 404 if request.method == "GET" and isinstance(exc, (
            errors.ValidationError, errors.ResourceNotFound, errors.NotFound)) else exc.status
        # a missing job: say so, and lead back to its list
        section = request.url.path.removeprefix(PREFIX).strip("/").split("/")[0]
        section = {"training-compare": "training-jobs"}.get(section, section)
        return self.render(request, "error.html", status, error=exc, not_found=status == 404,
                           section=section)

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}

    async def _checked_form(self, request: Request) -> dict[str, str]:
        form = await self._form(request)
        self.sessions.check_csrf(request, request.scope["state"]["session"],
                                 form.get("csrf", ""))
        return form

    @staticmethod
    def _back(to: str) -> RedirectResponse:
        return RedirectResponse(to, 303)

    # --- signing in -----------------------------------------------------------------------------

    def sign_in_form(self, request: Request) -> Response:
        if self.sessions.current(request) is not None:  # already signed in
            return RedirectResponse(f"{PREFIX}/", 303)
        return self._sign_in_page(request, "", request.query_params.get("next", ""))

    async def sign_in(self, request: Request) -> Response:
        self.sessions.check_origin(request)
        form = await self._form(request)
        _, cookie = await asyncio.to_thread(self.sessions.sign_in, form.get("access_key_id", ""),
                                            form.get("secret_access_key", ""))
        next_path = form.get("next", "")
        return self._signed_in(cookie, next_path if next_path.startswith(f"{PREFIX}/")
                               else f"{PREFIX}/")

    async def sign_in_link(self, request: Request) -> Response:
        _, cookie = await asyncio.to_thread(self.sessions.redeem,
                                            request.query_params.get("token", ""))
        return self._signed_in(cookie, f"{PREFIX}/")

    @staticmethod
    def _signed_in(cookie: str, to: str) -> Response:
        response = RedirectResponse(to, 303)
        response.set_cookie(COOKIE, cookie, max_age=int(SESSION_SECONDS), path=PREFIX,
                            httponly=True, samesite="strict")
        return response

    async def sign_out(self, request: Request) -> Response:
        await self._checked_form(request)
        await asyncio.to_thread(self.sessions.sign_out, request.scope["state"]["session"])
        response = RedirectResponse(f"{PREFIX}/sign-in", 303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = _plotly_js() if name == "plotly.min.js" else STATIC / name
        if "/" in name or not path.is_file():
            return Response("not found", 404)
        return FileResponse(path, headers={"cache-control": "max-age=3600"})

    # --- dashboard ------------------------------------------------------------------------------

    def dashboard(self, request: Request) -> Response:
        endpoints = data.endpoint_rows(self.platform)
        return self.render(request, "dashboard.html", running=data.running(self.platform),
                           recent=data.recent(self.platform), endpoints=endpoints,
                           idle=[e for e in endpoints if e["Idle"]],
                           idle_after=data.idle_warning_seconds(self.platform))

    # --- training -------------------------------------------------------------------------------

    def training_list(self, request: Request) -> Response:
        """The jobs with the columns the address names (``col=``), sorted by one of them."""
        query = request.query_params
        name, status = query.get("name", ""), query.get("status", "")
        sort, descending = query.get("sort", ""), query.get("order") == "desc"
        columns = compare.chosen_columns(query.getlist("col"))
        jobs = data.training_jobs(self.platform, name, status)
        offered = compare.available_columns(jobs)
        offered += [c for c in columns if c not in offered]
        kept = [("name", name), ("status", status)]
        if query.getlist("col"):
            kept += [("col", "name")] + [("col", c.key) for c in columns]
        return self.render(request, "training_list.html", name=name, status_filter=status,
                           columns=columns, offered=offered, sort=sort, descending=descending,
                           rows=compare.table(self.platform, jobs, columns, sort, descending),
                           base_query=urlencode([(k, v) for k, v in kept if v]))

    def training_compare(self, request: Request) -> Response:
        by = "time" if request.query_params.get("by") == "time" else "step"
        names = request.query_params.getlist("job")
        compared = compare.comparison(self.platform, names)
        return self.render(request, "training_compare.html", **compared, by=by,
                           only_differences=request.query_params.get("rows") == "differ",
                           jobs_query=urlencode([("job", j["TrainingJobName"])
                                                 for j in compared["jobs"]]))

    def chart_compared(self, request: Request) -> Response:
        by = "time" if request.query_params.get("by") == "time" else "step"
        return JSONResponse(charts.compared_metric(
            self.platform, request.query_params.getlist("job"),
            request.query_params.get("metric", ""), by))

    def training_job(self, request: Request) -> Response:
        name = request.path_params["name"]
        describe = describe_training_job(self.platform.training.get(name))
        return self.render(request, "training.html", job=describe,
                           by="time" if request.query_params.get("by") == "time" else "step",
                           artifacts=data.artifacts(self.platform, describe),
                           log=data.log_tail(self.platform.logs, TRAINING_LOGS, f"{name}/"))

    async def stop_training(self, request: Request) -> Response:
        await self._checked_form(request)
        name = request.path_params["name"]
        await asyncio.to_thread(self.platform.training.stop, name)
        return self._back(f"{PREFIX}/training-jobs/{quote(name)}")

    def chart_training(self, request: Request) -> Response:
        by = "time" if request.query_params.get("by") == "time" else "step"
        return JSONResponse(charts.training_metrics(self.platform, request.path_params["name"],
                                                    by))

    # --- processing -----------------------------------------------------------------------------

    def processing_list(self, request: Request) -> Response:
        name, status = request.query_params.get("name", ""), request.query_params.get(
            "status", "")
        return self.render(request, "processing_list.html", name=name, status_filter=status,
                           jobs=data.processing_jobs(self.platform, name, status))

    def processing_job(self, request: Request) -> Response:
        name = request.path_params["name"]
        return self.render(request, "processing.html",
                           job=describe_processing_job(self.platform.processing.get(name)),
                           log=data.log_tail(self.platform.logs, PROCESSING_LOGS, f"{name}/"))

    async def stop_processing(self, request: Request) -> Response:
        await self._checked_form(request)
        name = request.path_params["name"]
        await asyncio.to_thread(self.platform.processing.stop, name)
        return self._back(f"{PREFIX}/processing-jobs/{quote(name)}")

    # --- tuning ---------------------------------------------------------------------------------

    def tuning_list(self, request: Request) -> Response:
        return self.render(request, "tuning_list.html", jobs=data.tuning_jobs(self.platform))

    def tuning_job(self, request: Request) -> Response:
        describe, trials = data.trials(self.platform, request.path_params["name"])
        return self.render(request, "tuning.html", job=describe, trials=trials,
                           tuned=data.tuned_names(describe))

    async def stop_tuning(self, request: Request) -> Response:
        await self._checked_form(request)
        name = request.path_params["name"]
        await asyncio.to_thread(self.platform.tuning.stop, name)
        return self._back(f"{PREFIX}/tuning-jobs/{quote(name)}")

    def chart_objective(self, request: Request) -> Response:
        return JSONResponse(charts.tuning_objective(self.platform, request.path_params["name"]))

    def chart_hyperparameter(self, request: Request) -> Response:
        return JSONResponse(charts.tuning_hyperparameter(
            self.platform, request.path_params["name"], request.path_params["param"]))

    # --- endpoints ------------------------------------------------------------------------------

    def endpoint_list(self, request: Request) -> Response:
        return self.render(request, "endpoints.html",
                           endpoints=data.endpoint_rows(self.platform))

    def endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        return self.render(request, "endpoint.html", **data.endpoint(self.platform, name),
                           log=data.log_tail(self.platform.logs,
                                             f"/aws/sagemaker/Endpoints/{name}", "", 100))

    async def change_weights(self, request: Request) -> Response:
        form = await self._checked_form(request)
        name = request.path_params["name"]
        desired = [{"VariantName": key.removeprefix("weight-"),
                    "DesiredWeight": _weight(key.removeprefix("weight-"), value)}
                   for key, value in form.items() if key.startswith("weight-")]
        if not desired:
            raise errors.ValidationError("Give at least one variant's weight.")
        await asyncio.to_thread(self.platform.endpoints.update_weights, name, desired)
        return self._back(f"{PREFIX}/endpoints/{quote(name)}")

    async def try_endpoint(self, request: Request) -> Response:
        """The endpoint page's "try it" box: the payload goes to InvokeEndpoint as any client's
        would (signed with cove's key for this session's user); the answer, its variant and
        the latency come back as JSON."""
        self.sessions.check_csrf(request, request.scope["state"]["session"], "")
        body = await request.body()
        if len(body) > TRY_MAX_BYTES:
            raise errors.ValidationError(f"Try a payload of at most {TRY_MAX_BYTES:,} bytes.")
        content_type = request.headers.get("content-type") or "text/csv"
        answer = await asyncio.to_thread(self._invoke, request.path_params["name"], body,
                                         content_type)
        return JSONResponse(answer)

    def _invoke(self, name: str, body: bytes, content_type: str) -> dict[str, Any]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        creds = self.platform.credentials
        request = AWSRequest("POST", f"{self.platform.training.endpoint_url}/endpoints/"
                             f"{quote(name, safe='')}/invocations", data=body,
                             headers={"Content-Type": content_type, "Accept": "*/*"})
        SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key), "sagemaker",
                  self.platform.config.region).add_auth(request)
        prepared = request.prepare()
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(urllib.request.Request(
                    prepared.url, data=prepared.body, headers=dict(prepared.headers),
                    method="POST"), timeout=70) as response:
                status, text = response.status, response.read()
                variant = response.headers.get("x-amzn-invoked-production-variant", "")
        except urllib.error.HTTPError as exc:
            status, text, variant = exc.code, exc.read(), ""
        return {"status": status, "variant": variant, "body": text[:65536].decode(
            "utf-8", "replace"), "latencyMs": round((time.perf_counter() - started) * 1000, 1)}

    async def stop_endpoint(self, request: Request) -> Response:
        form = await self._checked_form(request)
        await asyncio.to_thread(self.platform.endpoints.take_out_of_service,
                                request.path_params["name"])
        return self._back(form.get("next", "") if form.get("next", "").startswith(
            f"{PREFIX}/") else f"{PREFIX}/")

    def confirm_delete(self, request: Request) -> Response:
        name = request.path_params["name"]
        return self.render(request, "endpoint_delete.html",
                           endpoint=describe_endpoint(self.platform.endpoints.endpoint(name)))

    async def delete_endpoint(self, request: Request) -> Response:
        form = await self._checked_form(request)
        name = request.path_params["name"]
        if form.get("confirm") != name:
            raise errors.ValidationError(f"Type the endpoint's name ({name}) to confirm.")
        await asyncio.to_thread(self.platform.endpoints.delete, name)  # DeleteEndpoint's rules
        return self._back(f"{PREFIX}/endpoints")

    def chart_traffic(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.platform.endpoints.endpoint(name)
        return JSONResponse(charts.endpoint_traffic(self.platform, name))

    def chart_latency(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.platform.endpoints.endpoint(name)
        return JSONResponse(charts.endpoint_latency(self.platform, name))

    # --- batch transform, functions, gateway ----------------------------------------------------

    def transform_list(self, request: Request) -> Response:
        return self.render(request, "transforms.html",
                           jobs=data.transform_jobs(self.platform))

    def transform_job(self, request: Request) -> Response:
        name = request.path_params["name"]
        return self.render(request, "transform.html",
                           job=describe_transform_job(self.platform.transforms.get(name)),
                           progress=self.platform.transforms.progress(name),
                           log=data.log_tail(self.platform.logs, TRANSFORM_LOGS, f"{name}/"))

    async def stop_transform(self, request: Request) -> Response:
        await self._checked_form(request)
        name = request.path_params["name"]
        await asyncio.to_thread(self.platform.transforms.stop, name)
        return self._back(f"{PREFIX}/transform-jobs/{quote(name)}")

    def function_list(self, request: Request) -> Response:
        return self.render(request, "functions.html", functions=[
            configuration(f) for f in self.platform.functions.all()])

    def function(self, request: Request) -> Response:
        name = request.path_params["name"]
        config = configuration(self.platform.functions.get(name))
        log = data.log_tail(self.platform.logs, f"/aws/lambda/{name}", "", 500)
        calls, failed = data.function_invocations(log)
        return self.render(request, "function.html", function=config, log=log[-200:],
                           calls=calls, failed=failed)

    def gateway_list(self, request: Request) -> Response:
        return self.render(request, "gateway_list.html", apis=self.platform.gateway.apis())

    def gateway_api(self, request: Request) -> Response:
        return self.render(request, "gateway.html",
                           **data.gateway_api(self.platform, request.path_params["api_id"]))

    # --- notebook instances -------------------------------------------------------------------

    def notebook_list(self, request: Request) -> Response:
        return self.render(request, "notebooks.html", instances=[
            describe_notebook_instance(n) for n in self.platform.notebooks.all()])

    def notebook(self, request: Request) -> Response:
        name = request.path_params["name"]
        return self.render(request, "notebook.html",
                           nb=describe_notebook_instance(self.platform.notebooks.get(name)),
                           log=data.log_tail(self.platform.logs, NOTEBOOK_LOGS, f"{name}/"))

    def open_notebook(self, request: Request) -> Response:
        """Into the instance's JupyterLab, signed in (what CreatePresignedNotebookInstanceUrl
        gives the API's callers)."""
        return RedirectResponse(self.platform.notebooks.authorized_url(
            request.path_params["name"]), 303)

    async def start_notebook(self, request: Request) -> Response:
        await self._checked_form(request)
        name = request.path_params["name"]
        await asyncio.to_thread(self.platform.notebooks.start, name)
        return self._back(f"{PREFIX}/notebook-instances/{quote(name)}")

    async def stop_notebook(self, request: Request) -> Response:
        await self._checked_form(request)
        name = request.path_params["name"]
        await asyncio.to_thread(self.platform.notebooks.stop, name)
        return self._back(f"{PREFIX}/notebook-instances/{quote(name)}")

    # --- objects --------------------------------------------------------------------------------

    def buckets(self, request: Request) -> Response:
        return self.render(request, "buckets.html", buckets=self.platform.store.list_buckets())

    def bucket(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        prefix = request.query_params.get("prefix", "")
        listing = self.platform.store.list_objects(bucket, prefix, "/",
                                                   request.query_params.get("after", ""), 500)
        parent = prefix.rstrip("/").rpartition("/")[0]
        return self.render(request, "bucket.html", bucket=bucket, key_prefix=prefix,
                           listing=listing, parent=f"{parent}/" if parent else "")

    def object_info(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        info = self.platform.store.head_object(bucket, request.query_params.get("key", ""))
        return self.render(request, "object.html", bucket=bucket, info=info)

    def download(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        info = self.platform.store.head_object(bucket, request.query_params.get("key", ""))
        filename = quote(info.key.rpartition("/")[2] or "object")
        return StreamingResponse(
            self.platform.store.iter_range(info, 0, info.size),
            media_type=info.attributes.content_type,
            headers={"content-length": str(info.size), "etag": info.etag,
                     "content-disposition": f"attachment; filename*=UTF-8''{filename}"})

    async def upload(self, request: Request) -> Response:
        self.sessions.check_csrf(request, request.scope["state"]["session"], "")
        bucket, key = request.path_params["bucket"], request.query_params.get("key", "")
        if not key or len(key.encode()) > 1024:
            raise errors.ValidationError("Give the object's key (1 to 1024 bytes).")
        store = self.platform.store
        await asyncio.to_thread(store.require_bucket_cached, bucket)
        writer = store.blobs.writer()
        try:
            async for chunk in request.stream():
                await asyncio.to_thread(writer.write, chunk)
            blob = await asyncio.to_thread(writer.finish)  # fsync and rename
        except BaseException:
            await asyncio.to_thread(writer.discard)
            raise
        content_type = request.headers.get("content-type") or "application/octet-stream"
        info = await asyncio.to_thread(store.put_object, bucket, key, blob,
                                       ObjectAttributes(content_type), Checksum())
        return JSONResponse({"bucket": bucket, "key": key, "size": info.size,
                             "etag": info.etag})


def _weight(variant: str, value: str) -> float:
    try:
        weight = float(value)
    except ValueError:
        weight = -1.0
    if not 0 <= weight <= 1e6 or weight != weight:
        raise errors.ValidationError(f"The weight of variant {variant} must be a number from 0 "
                                     f"up, not {value!r}.")
    return weight


def short_number(value: object) -> str:
    """A hyperparameter as a person reads it: ``0.27838`` for ``0.27838123456789012``; words
    and integers as they are."""
    text = str(value).strip('"')
    try:
        number = float(text)
    except ValueError:
        return text
    return text if number.is_integer() and "." not in text else f"{number:.6g}"


def _when(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"



__all__ = ["PREFIX", "Console", "Forbidden"]
