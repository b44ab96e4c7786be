"""Processing jobs: the SageMaker processing API and the processing container contract
without the container, run by the training job machinery (queue, slots, sandboxed hosts,
data plane, log streams)."""

from cove.processing._api import ProcessingApi, describe_processing_job
from cove.processing._jobs import LOG_GROUP, TERMINAL, ProcessingJobs
from cove.processing._records import ProcessingJob

__all__ = ["LOG_GROUP", "TERMINAL", "ProcessingApi", "ProcessingJob", "ProcessingJobs",
           "describe_processing_job"]
