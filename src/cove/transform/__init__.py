"""Batch transform: a model's predictions for whole datasets in the object store.

A job lists its input objects, splits them into records (``SplitType``), packs the records into
mini-batches (``BatchStrategy``, ``MaxPayloadInMB``), sends them to the model's workers
(``MaxConcurrentTransforms`` at a time per instance) and writes ``{S3OutputPath}/{relative
path}.out`` for every object, records in order, with ``DataProcessing``'s filters and join.

The workers are hosting's (a fleet of model-server processes); the engine that splits, batches
and assembles sees them only as an :class:`Invoker`, so they may run elsewhere.  The
``InstanceCount`` × ``SAGEMAKER_MODEL_SERVER_WORKERS`` workers form one pool with
``MaxConcurrentTransforms`` × ``InstanceCount`` requests in flight: where SageMaker gives each
instance whole objects, cove spreads every object's mini-batches over all workers (the outputs
are the same; one large object keeps every worker busy).
"""

from cove.transform._api import TransformApi, describe_transform_job, transform_job_summary
from cove.transform._engine import Engine, Invoker, TransformFailed
from cove.transform._inputs import LocalObjects
from cove.transform._job import TransformJob
from cove.transform._jobs import LOG_GROUP, TERMINAL, Progress, TransformJobs, TransformSettings

__all__ = ["LOG_GROUP", "TERMINAL", "Engine", "Invoker", "LocalObjects", "Progress",
           "TransformApi", "TransformFailed", "TransformJob", "TransformJobs",
           "TransformSettings", "describe_transform_job", "transform_job_summary"]
