"""The console over plain HTTP: who gets in, sessions, CSRF, and the JSON behind the charts."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any

import requests

from tests.conftest import CoveServer
from tests.console.conftest import csrf_of, signed_in


def test_without_a_session_there_is_the_sign_in_page_and_no_data(cove: CoveServer) -> None:
    for path in ("/ui/", "/ui/training-jobs", "/ui/endpoints", "/ui/objects"):
        answer = requests.get(cove.console_url + path, timeout=30)
        assert answer.status_code == 401
        assert "Sign in to cove" in answer.text and "Dashboard" not in answer.text
    api = requests.get(cove.console_url + "/ui/api/endpoints/anything/traffic", timeout=30)
    assert api.status_code == 401 and api.json()["code"] == "NotSignedIn"
    forged = requests.post(cove.console_url + "/ui/endpoints/anything/delete",
                           data={"confirm": "x"}, timeout=30)
    assert forged.status_code == 401
    # a cookie that is not one cove signed gets nothing either
    answer = requests.get(cove.console_url + "/ui/",
                          cookies={"cove_session": "0" * 32 + "." + "1" * 64}, timeout=30)
    assert answer.status_code == 401


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_revokes_it(cove: CoveServer
                                                                        ) -> None:
    wrong = requests.post(cove.console_url + "/ui/sign-in", data={
        "access_key_id": cove.credentials["access_key_id"], "secret_access_key": "guess"},
        timeout=30, allow_redirects=False)
    assert wrong.status_code == 401 and "not right" in wrong.text
    assert "`cove" not in wrong.text  # prose for a page, not Markdown
    assert "set-cookie" not in wrong.headers
    c = cove.credentials
    answer = requests.post(cove.console_url + "/ui/sign-in", data={
        "access_key_id": c["access_key_id"], "secret_access_key": c["secret_access_key"]},
        timeout=30, allow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    session, csrf = signed_in(cove)
    assert session.get(cove.console_url + "/ui/", timeout=30).status_code == 200
    assert session.get(cove.console_url + "/ui/sign-in", timeout=30).url.endswith("/ui/")
    stolen = dict(session.cookies)
    assert session.post(cove.console_url + "/ui/sign-out", data={"csrf": csrf},
                        timeout=30).status_code == 200  # back on the sign-in page
    assert requests.get(cove.console_url + "/ui/", cookies=stolen, timeout=30).status_code == 401


def test_forged_actions_are_refused(cove: CoveServer) -> None:
    session, csrf = signed_in(cove)
    s3 = cove.client("s3")
    bucket = f"console-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    url = f"{cove.console_url}/ui/objects/{bucket}/upload?key=a.txt"
    no_token = session.put(url, data=b"forged", timeout=30)
    assert no_token.status_code == 403 and no_token.json()["code"] == "AccessDenied"
    wrong_token = session.put(url, data=b"forged", headers={"X-CSRF-Token": "0" * 32},
                              timeout=30)
    assert wrong_token.status_code == 403
    other_site = session.put(url, data=b"forged", timeout=30, headers={
        "X-CSRF-Token": csrf, "Origin": "http://evil.example"})
    assert other_site.status_code == 403
    form = session.post(f"{cove.console_url}/ui/endpoints/none/weights", data={"weight-A": "1"},
                        timeout=30)
    assert form.status_code == 403
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # nothing changed
    # with the token: uploaded, listed, downloadable
    good = session.put(url, data=b"hello console", timeout=30,
                       headers={"X-CSRF-Token": csrf, "Content-Type": "text/plain"})
    assert good.status_code == 200 and good.json()["size"] == 13
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"hello console"
    page = session.get(f"{cove.console_url}/ui/objects/{bucket}", timeout=30)
    assert "a.txt" in page.text and "13 B" in page.text
    download = session.get(f"{cove.console_url}/ui/objects/{bucket}/download?key=a.txt", timeout=30)
    assert download.content == b"hello console"
    s3.put_object(Bucket=bucket, Key="dir/meta.json", Body=b"{}", ContentType="application/json",
                  Metadata={"owner": "console-test"})
    info = session.get(f"{cove.console_url}/ui/objects/{bucket}/object?key=dir/meta.json",
                       timeout=30)
    assert "x-amz-meta-owner" in info.text and "console-test" in info.text
    assert "application/json" in info.text
    assert "dir/" in session.get(f"{cove.console_url}/ui/objects/{bucket}", timeout=30).text
    missing = session.put(f"{cove.console_url}/ui/objects/no-such-bucket-x/upload?key=a",
                          timeout=30, data=b"x", headers={"X-CSRF-Token": csrf})
    assert missing.status_code == 404 and missing.json()["code"] == "NoSuchBucket"


def test_bad_input_gets_a_clear_error_and_changes_nothing(cove: CoveServer) -> None:
    session, csrf = signed_in(cove)
    answer = session.post(f"{cove.console_url}/ui/endpoints/none/weights",
                          data={"csrf": csrf, "weight-A": "-3"}, timeout=30)
    assert answer.status_code == 400 and "from 0 up" in answer.text
    answer = session.post(f"{cove.console_url}/ui/endpoints/none/weights",
                          data={"csrf": csrf, "weight-A": "1"}, timeout=30)
    assert answer.status_code == 400 and "Could not find endpoint &#34;none&#34;" in answer.text
    page = session.get(f"{cove.console_url}/ui/training-jobs/none", timeout=30)
    assert page.status_code == 404 and "none" in page.text
    chart = session.get(f"{cove.console_url}/ui/api/endpoints/none/traffic", timeout=30)
    assert chart.status_code == 400 and chart.json()["code"] == "ValidationException"


def test_one_time_link_works_once_and_sessions_survive_a_restart(fresh_cove: CoveServer
                                                                   ) -> None:
    env: dict[str, Any] = {"COVE_HOME": str(fresh_cove.home), "PATH": "/usr/bin:/bin"}
    printed = subprocess.run([sys.executable, "-m", "cove", "ui", "--no-open"], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    link = next(w for w in printed.split() if "/ui/sign-in/link?token=" in w)
    browser = requests.Session()
    first = browser.get(link, timeout=30)
    assert first.status_code == 200 and first.url.endswith("/ui/")
    csrf_of(first.text)
    again = requests.get(link, timeout=30)
    assert again.status_code == 401 and "already used" in again.text
    tampered = requests.get(link[:-1] + ("0" if link[-1] != "0" else "1"), timeout=30)
    assert tampered.status_code == 401
    fresh_cove.restart()
    assert browser.get(fresh_cove.console_url + "/ui/", timeout=30).status_code == 200
    assert (fresh_cove.home / "console.key").stat().st_mode & 0o777 == 0o600


def test_endpoint_traffic_and_history_are_counted_and_durable(tmp_path: Any) -> None:
    """The traffic series behind the endpoint chart and the deployment history, straight from
    their recorders, across a reopening of the database."""
    from cove.hosting._history import History
    from cove.hosting._traffic import Traffic, percentile
    from cove.meta import Database

    db = Database(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    traffic = Traffic(db)
    for _ in range(30):
        traffic.record("ep", "A", 0.002, True)
    for _ in range(10):
        traffic.record("ep", "B", 0.050, False)
    traffic.flush()
    traffic.record("ep", "A", 0.002, True)  # the next flush merges into the same bucket
    traffic.flush()
    rows = {r["variant"]: r for r in traffic.series("ep", time.time() - 60)}
    assert rows["A"]["invocations"] == 31 and rows["A"]["errors"] == 0
    assert rows["B"]["invocations"] == 10 and rows["B"]["errors"] == 10
    assert 2.0 <= rows["A"]["p50"] <= 3.0 and 50 <= rows["B"]["p99"] <= 76
    assert percentile([0] * 35, 0.5) is None
    History(db).record("ep", "InService", "cfg-1", "A: weight 1")
    db.close()
    # durable: a restart keeps both
    reopened = Database(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    traffic, history = Traffic(reopened), History(reopened)
    assert {r["variant"]: r["invocations"] for r in traffic.series("ep")} == {"A": 31, "B": 10}
    assert [e["event"] for e in history.events("ep")] == ["InService"]
    traffic.forget("ep")
    history.forget("ep")
    assert traffic.series("ep") == [] and history.events("ep") == []
    reopened.close()


def test_transform_function_and_gateway_pages(cove: CoveServer) -> None:
    """Pages read what the services hold: a finished batch transform with its progress and
    log, a function's invocations and errors, an API's routes and stages."""
    from tests.functions.conftest import ROLE as LAMBDA_ROLE
    from tests.functions.conftest import zip_of
    from tests.hosting.test_endpoints import xgb_model
    from tests.transform.helpers import create_model, job_request
    from tests.transform.helpers import wait as wait_transform

    s3, sm, lam = cove.client("s3"), cove.client("sagemaker"), cove.client("lambda")
    bucket = f"console-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    url, _, X = xgb_model(s3, bucket)
    for part in range(2):
        s3.put_object(Bucket=bucket, Key=f"in/part{part}.csv", Body="\n".join(
            ",".join(f"{v:.5f}" for v in row) for row in X[part * 10:(part + 1) * 10]).encode())
    transform = f"tj-{uuid.uuid4().hex[:8]}"
    sm.create_transform_job(**job_request(transform, create_model(sm, url),
                                          f"s3://{bucket}/in/", f"s3://{bucket}/out/"))
    function = f"fn-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=function, Runtime="python3.11", Role=LAMBDA_ROLE,
                        Handler="lambda_function.handler", Code={"ZipFile": zip_of({
                            "lambda_function.py": "def handler(event, context):\n"
                            "    if event.get('fail'):\n        raise ValueError('asked to')\n"
                            "    return {'ok': True}\n"})})
    for payload in (b"{}", b"{}", b'{"fail": true}'):
        lam.invoke(FunctionName=function, Payload=payload)
    gateway = cove.client("apigatewayv2")
    api = gateway.create_api(Name=f"api-{function}", ProtocolType="HTTP",
                             Target=lam.get_function(FunctionName=function)[
                                 "Configuration"]["FunctionArn"])
    assert wait_transform(sm, transform)["TransformJobStatus"] == "Completed"

    session, _ = signed_in(cove)
    page = session.get(f"{cove.console_url}/ui/transform-jobs/{transform}", timeout=30).text
    assert "Completed" in page and "2 / 2" in page and "records 20" in page
    assert transform in session.get(f"{cove.console_url}/ui/transform-jobs", timeout=30).text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # function logs are flushed in batches
        page = session.get(f"{cove.console_url}/ui/functions/{function}", timeout=30).text
        if "3 invocations and 1 errors" in page:
            break
        time.sleep(0.3)
    assert "3 invocations and 1 errors" in page and "ValueError: asked to" in page
    assert function in session.get(f"{cove.console_url}/ui/functions", timeout=30).text
    listing = session.get(f"{cove.console_url}/ui/gateway", timeout=30).text
    assert api["ApiId"] in listing
    page = session.get(f"{cove.console_url}/ui/gateway/{api['ApiId']}", timeout=30).text
    assert "$default" in page and function in page
    assert session.get(f"{cove.console_url}/ui/gateway/nope", timeout=30).status_code == 404


def test_a_notebook_instance_opens_stops_and_starts_from_its_page(cove: CoveServer) -> None:
    session, csrf = signed_in(cove)
    sm = cove.client("sagemaker")
    name = f"nb-{uuid.uuid4().hex[:6]}"
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                RoleArn="arn:aws:iam::000000000000:role/CoveExecutionRole")
    sm.get_waiter("notebook_instance_in_service").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert name in session.get(f"{cove.console_url}/ui/notebook-instances", timeout=30).text
    # the dashboard counts a running JupyterLab among what runs
    dashboard = session.get(f"{cove.console_url}/ui/", timeout=30).text
    assert "<h3>Notebook instances</h3>" in dashboard and name in dashboard
    assert "Nothing is running." not in dashboard
    page = session.get(f"{cove.console_url}/ui/notebook-instances/{name}", timeout=30)
    assert "InService" in page.text and "Open JupyterLab" in page.text
    # "Open" signs the browser into the instance's JupyterLab, as the presigned URL does
    opened = session.get(f"{cove.console_url}/ui/notebook-instances/{name}/open", timeout=30,
                         allow_redirects=False)
    lab = opened.headers["location"]
    assert opened.status_code == 303 and "token=" in lab
    assert requests.get(lab, timeout=30).status_code == 200
    # actions need the CSRF token; with it, stop and start go through the API's code
    forged = session.post(f"{cove.console_url}/ui/notebook-instances/{name}/stop", timeout=30)
    assert forged.status_code == 403
    assert sm.describe_notebook_instance(
        NotebookInstanceName=name)["NotebookInstanceStatus"] == "InService"
    session.post(f"{cove.console_url}/ui/notebook-instances/{name}/stop", data={"csrf": csrf},
                 timeout=30)
    sm.get_waiter("notebook_instance_stopped").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert name not in session.get(f"{cove.console_url}/ui/", timeout=30).text.split(
        "<h2>Running now</h2>")[1].split("</section>")[0]
    stopped = session.get(f"{cove.console_url}/ui/notebook-instances/{name}", timeout=30)
    assert "Stopped" in stopped.text and "Open JupyterLab" not in stopped.text
    not_open = session.get(f"{cove.console_url}/ui/notebook-instances/{name}/open", timeout=30)
    assert not_open.status_code in (400, 404) and "start it first" in not_open.text
    session.post(f"{cove.console_url}/ui/notebook-instances/{name}/start", data={"csrf": csrf},
                 timeout=30)
    sm.get_waiter("notebook_instance_in_service").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    sm.stop_notebook_instance(NotebookInstanceName=name)


def test_pages_name_no_favicon_to_fetch_and_numbers_read_short(cove: CoveServer) -> None:
    from cove.console._app import short_number

    session, _ = signed_in(cove)
    page = session.get(cove.url + "/ui/", timeout=30).text
    assert '<link rel="icon" href="data:,">' in page  # no /favicon.ico request, no 403
    assert short_number("0.27838123456789012") == "0.278381"
    assert short_number('"0.1"') == "0.1" and short_number("500") == "500"
    assert short_number("binary:logistic") == "binary:logistic"
    assert short_number("1e-05") == "1e-05"


def test_a_missing_job_is_a_friendly_not_found_page(cove: CoveServer) -> None:
    session, _ = signed_in(cove)
    page = session.get(cove.url + "/ui/training-jobs/no-such-job", timeout=30)
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text and "ValidationException" not in page.text
    assert "no-such-job" in page.text
    assert 'href="/ui/training-jobs">See all training jobs</a>' in page.text
