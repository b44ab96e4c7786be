"""Processing jobs: the SageMaker processing API and the processing container contract
without the container, run by the training job machinery (queue, slots, sandboxed hosts,
data plane, log streams)."""

from cove.processing._api import ProcessingApi
from cove.processing._jobs import LOG_GROUP, TERMINAL, ProcessingJobs

__all__ = ["LOG_GROUP", "TERMINAL", "ProcessingApi", "ProcessingJobs"]
