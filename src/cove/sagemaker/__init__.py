"""The SageMaker API (JSON 1.1, ``X-Amz-Target: SageMaker.<Operation>``) assembled from the
components that implement it, plus what they share: ARNs, pagination, tags."""

from cove.sagemaker._common import (
    Page,
    arn,
    as_s3_uri,
    epoch_seconds,
    matches_filters,
    milliseconds,
    name_from_arn,
    not_found,
    paginate,
    parse_s3_uri,
    s3_location,
)
from cove.sagemaker._lifecycle import JobStatus
from cove.sagemaker._rows import DescribedRows, RecordRows, Stored
from cove.sagemaker._tags import Tags

__all__ = ["DescribedRows", "JobStatus", "Page", "RecordRows", "Stored", "Tags", "arn", "as_s3_uri",
           "epoch_seconds", "matches_filters", "milliseconds", "name_from_arn", "not_found",
           "paginate", "parse_s3_uri", "s3_location"]
