"""Training jobs: the SageMaker training API, the container contract without a container,
runtimes chosen by image URI, logs and metrics.  The job machinery (queue, runs, sandboxed
hosts, data plane, cached environments) is shared with processing jobs."""

from cove.training._api import REQUIRED, TrainingApi
from cove.training._contract import CONTAINER_ROOT, HostPlan, base_environment
from cove.training._data import DataPlane, LocalDataPlane, read_manifest
from cove.training._host import HostResult, HostSetup, TrainingHost
from cove.training._jobs import LOG_GROUP, TERMINAL, TrainingJobs, TrainingSettings
from cove.training._metrics import final_values, series
from cove.training._runs import HostedJobs, HostedRun, HostSlots, local_cpus
from cove.training._runtimes import Runtime, image_kind

__all__ = ["CONTAINER_ROOT", "LOG_GROUP", "REQUIRED", "TERMINAL", "DataPlane", "HostPlan",
           "HostResult", "HostSetup", "HostSlots", "HostedJobs", "HostedRun",
           "LocalDataPlane", "Runtime", "TrainingApi", "TrainingHost", "TrainingJobs",
           "TrainingSettings", "base_environment", "final_values", "image_kind",
           "local_cpus", "read_manifest", "series"]
