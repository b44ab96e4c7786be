"""AddTags / ListTags / DeleteTags for every SageMaker resource, by ARN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, insert, select

from cove import errors
from cove.meta import Database
from cove.meta.tables import tags
from cove.sagemaker._common import paginate
from cove.wire import Call

MAX_TAGS = 50


class Tags:
    """Tags of resources whose existence ``exists(arn)`` confirms."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._resolvers: list[Callable[[str], bool]] = []

    def register(self, exists: Callable[[str], bool]) -> None:
        self._resolvers.append(exists)

    def set(self, resource_arn: str, new_tags: list[dict[str, str]]) -> None:
        with self.db.write() as conn:
            for tag in new_tags:
                conn.execute(delete(tags).where(and_(tags.c.arn == resource_arn,
                                                     tags.c.key == tag["Key"])))
                conn.execute(insert(tags).values(arn=resource_arn, key=tag["Key"],
                                                 value=tag.get("Value", "")))
            count = len(conn.execute(select(tags.c.key).where(tags.c.arn == resource_arn)).all())
            if count > MAX_TAGS:
                raise errors.ResourceLimitExceeded(
                    f"A resource can have at most {MAX_TAGS} tags; this one would have {count}.")

    def get(self, resource_arn: str) -> list[dict[str, str]]:
        with self.db.read() as conn:
            rows = conn.execute(select(tags).where(tags.c.arn == resource_arn)
                                .order_by(tags.c.key)).all()
        return [{"Key": r.key, "Value": r.value} for r in rows]

    def forget(self, resource_arn: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(tags).where(tags.c.arn == resource_arn))

    def _require(self, resource_arn: str) -> None:
        if not any(exists(resource_arn) for exists in self._resolvers):
            raise errors.ValidationError(f"Could not find resource with ARN {resource_arn!r}.")

    # --- the API ----------------------------------------------------------------------------

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {"AddTags": self.add_tags, "ListTags": self.list_tags,
                "DeleteTags": self.delete_tags}

    def add_tags(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self._require(params["ResourceArn"])
        self.set(params["ResourceArn"], params["Tags"])
        return {"Tags": params["Tags"]}

    def list_tags(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self._require(params["ResourceArn"])
        page = paginate(self.get(params["ResourceArn"]), params, default_max=50)
        return page.response("Tags")

    def delete_tags(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self._require(params["ResourceArn"])
        with self.db.write() as conn:
            conn.execute(delete(tags).where(and_(tags.c.arn == params["ResourceArn"],
                                                 tags.c.key.in_(params["TagKeys"]))))
        return {}
