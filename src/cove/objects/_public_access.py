"""PutPublicAccessBlock / GetPublicAccessBlock / DeletePublicAccessBlock on a bucket.

cove's buckets have ACLs disabled (bucket owner enforced) and no bucket policies, so the only
public access a bucket can have is a static website (``_website``): ``RestrictPublicBuckets``
stops a bucket's website
from being served, as on S3 it stops public policies from granting access.  The other flags
are kept and returned as set.
"""

from __future__ import annotations

from starlette.responses import Response

from cove import errors
from cove.meta import Database
from cove.objects._s3wire import el, parse_xml, xml_response
from cove.objects._store import LocalObjectStore

SETTING = "publicAccessBlock"

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class PublicAccessBlocks:
    def __init__(self, db: Database, store: LocalObjectStore) -> None:
        self.db, self.store = db, store

    def put(self, bucket: str, body: bytes) -> None:
        self.store.put_setting(bucket, SETTING, parse_configuration(body))

    def get(self, bucket: str) -> dict[str, bool]:
        stored = self.store.setting(bucket, SETTING)
        if stored is None:
            raise errors.NoSuchPublicAccessBlockConfiguration(
                "The public access block configuration was not found", BucketName=bucket)
        return {flag: bool(stored.get(flag, False)) for flag in FLAGS}

    def configuration_xml(self, bucket: str) -> Response:
        inner = "".join(el(flag, value) for flag, value in self.get(bucket).items())
        return xml_response("PublicAccessBlockConfiguration", inner)

    def delete(self, bucket: str) -> None:
        self.store.put_setting(bucket, SETTING, None)

    def restricts(self, bucket: str) -> bool:
        """Whether the bucket's configuration forbids public access to it (its website)."""
        stored = self.store.setting(bucket, SETTING)
        return stored is not None and bool(stored.get("RestrictPublicBuckets"))


def parse_configuration(body: bytes) -> dict[str, bool]:
    """The four flags of a PublicAccessBlockConfiguration document (absent ones are false)."""
    root = parse_xml(body)
    if root.tag != "PublicAccessBlockConfiguration":
        raise errors.MalformedXML("The body must be a PublicAccessBlockConfiguration document.")
    configuration = {}
    for flag in FLAGS:
        text = root.findtext(flag) or "false"
        if text.strip().lower() not in ("true", "false"):
            raise errors.MalformedXML(f"{flag} must be true or false, not {text.strip()!r}.")
        configuration[flag] = text.strip().lower() == "true"
    return configuration
