"""The object store: S3's API over blobs on disk and a key index in the metadata database."""

from cove.objects._base import (
    BucketInfo,
    Checksum,
    Listing,
    ObjectAttributes,
    ObjectInfo,
    ObjectStore,
)
from cove.objects._s3api import S3Service
from cove.objects._store import LocalObjectStore
from cove.objects._website import Websites

__all__ = ["BucketInfo", "Checksum", "Listing", "LocalObjectStore", "ObjectAttributes",
           "ObjectInfo", "ObjectStore", "S3Service", "Websites"]
