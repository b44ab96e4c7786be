"""SageMaker Pipelines: definitions executed step by step, each step a real job of cove's
services, durable across restarts."""

from cove.pipelines._acting import Acting, ActingServices, Actor
from cove.pipelines._api import PipelinesApi, render_step
from cove.pipelines._definition import Definition, Parameter, Step, parse
from cove.pipelines._engine import Engine
from cove.pipelines._pipelines import ExecutionSpec, Pipelines, PipelineSpec
from cove.pipelines._records import Execution, ExecutionStatus, Pipeline, StepRun, StepStatus
from cove.pipelines._steps import Api, InvokeFunction
from cove.pipelines._store import PipelineStore

__all__ = ["Acting", "ActingServices", "Actor", "Api", "Definition", "Engine", "Execution",
           "ExecutionSpec", "ExecutionStatus", "InvokeFunction", "Parameter", "Pipeline",
           "PipelineSpec", "PipelineStore", "Pipelines", "PipelinesApi", "Step", "StepRun",
           "StepStatus", "parse", "render_step"]
