"""Errors rendered once, in the shape each protocol's clients parse."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from starlette.responses import Response

from cove.errors import CoveError

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

#: For content users or their code control (bucket websites, gateway responses, objects): a
#: page's scripts still run, but in an opaque origin of their own, so they can read no cookie,
#: storage or same-origin response of cove's, and whatever they send carries ``Origin: null``.
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"


def render_error(exc: CoveError, protocol: str, request_id: str, method: str) -> Response:
    code, status = exc.code_for(protocol), exc.status_for(protocol)
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": exc.message, "Message": exc.message,
                           **exc.details})
        return Response(body, status, media_type=JSON_CONTENT_TYPE if protocol == "json"
                        else "application/json",
                        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code})
    if protocol == "query":
        kind = "Sender" if status < 500 else "Receiver"
        body = (f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>{kind}</Type>'
                f"<Code>{escape(code)}</Code><Message>{escape(exc.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return Response(body, status, media_type="text/xml",
                        headers={"x-amzn-RequestId": request_id})
    headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id, **exc.headers}
    if method == "HEAD":  # HEAD errors carry no body; clients read the status alone
        return Response(b"", status, headers=headers)
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in exc.details.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(exc.message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId></Error>")
    return Response(body, status, media_type="application/xml", headers=headers)
