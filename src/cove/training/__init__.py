"""Training jobs: the SageMaker training API, the container contract without a container,
runtimes chosen by image URI, logs and metrics.  The job machinery (queue, runs, sandboxed
hosts, data plane, cached environments) is shared with processing jobs."""

from cove.training._api import TrainingApi, describe_training_job
from cove.training._contract import CONTAINER_ROOT, HostPlan, base_environment
from cove.training._data import DataPlane, LocalDataPlane, read_manifest
from cove.training._host import HostResult, HostSetup, TrainingHost
from cove.training._jobs import LOG_GROUP, TERMINAL, TrainingJobs, TrainingSettings
from cove.training._metrics import final_values, series
from cove.training._records import SecondaryStatus, TrainingJob, Transition
from cove.training._requests import REQUIRED
from cove.training._runs import HostedJob, HostedJobs, HostedRun, HostSlots, local_cpus
from cove.training._runtimes import Runtime, image_kind

__all__ = ["CONTAINER_ROOT", "DataPlane", "HostPlan", "HostResult", "HostSetup", "HostSlots",
           "HostedJob", "HostedJobs", "HostedRun", "LOG_GROUP", "LocalDataPlane", "REQUIRED",
           "Runtime", "SecondaryStatus", "TERMINAL", "TrainingApi", "TrainingHost",
           "TrainingJob", "TrainingJobs", "TrainingSettings", "Transition", "base_environment",
           "describe_training_job", "final_values", "image_kind", "local_cpus", "read_manifest",
           "series"]
