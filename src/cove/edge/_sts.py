"""STS, the one call clients make to learn who they are: GetCallerIdentity."""

from __future__ import annotations

from xml.sax.saxutils import escape

from cove.edge._service import Call, QueryService


def get_caller_identity(params: dict[str, str], call: Call) -> str:
    p = call.principal
    return (f"<Arn>{escape(p.arn)}</Arn><UserId>{escape(p.access_key_id)}</UserId>"
            f"<Account>{escape(p.account_id)}</Account>")


def sts_service() -> QueryService:
    return QueryService("sts", "https://sts.amazonaws.com/doc/2011-06-15/",
                        {"GetCallerIdentity": get_caller_identity})
