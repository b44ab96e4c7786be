"""Pipelines in the SageMaker API: reads requests into the service's terms and renders its
records as SageMaker's documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cove import errors
from cove.pipelines._pipelines import ExecutionSpec, Pipelines, PipelineSpec
from cove.pipelines._records import Execution, Pipeline, PipelineStatus, StepRun
from cove.sagemaker import Tags, milliseconds, paginate
from cove.wire import Call


class PipelinesApi:
    def __init__(self, pipelines: Pipelines, tags: Tags,
                 read_as_role: Callable[[str, str, str], bytes]) -> None:
        self.pipelines, self.tags, self.read_as_role = pipelines, tags, read_as_role
        self.store = pipelines.store
        tags.register(self._exists)

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {
            "CreatePipeline": self.create, "UpdatePipeline": self.update,
            "DescribePipeline": self.describe, "ListPipelines": self.list,
            "DeletePipeline": self.delete,
            "StartPipelineExecution": self.start,
            "DescribePipelineExecution": self.describe_execution,
            "ListPipelineExecutions": self.list_executions,
            "ListPipelineExecutionSteps": self.list_steps,
            "StopPipelineExecution": self.stop, "RetryPipelineExecution": self.retry,
            "ListPipelineParametersForExecution": self.list_parameters,
            "DescribePipelineDefinitionForExecution": self.definition_for_execution,
            "ListPipelineVersions": self.list_versions,
        }

    # --- pipelines --------------------------------------------------------------------------

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        pipeline = self.pipelines.create(params["PipelineName"],
                                         self._spec(params, params.get("RoleArn") or ""),
                                         call.region, call.principal.account_id)
        if params.get("Tags"):
            self.tags.set(pipeline.arn, params["Tags"])
        return {"PipelineArn": pipeline.arn}

    def update(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        role = params.get("RoleArn") or self.store.pipeline(params["PipelineName"]).role_arn
        pipeline = self.pipelines.update(params["PipelineName"], self._spec(params, role))
        return {"PipelineArn": pipeline.arn, "PipelineVersionId": pipeline.version(None).id}

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        pipeline = self.store.pipeline(params["PipelineName"])
        version = pipeline.version(params.get("PipelineVersionId"))
        return {**_summary(pipeline), "PipelineDefinition": version.definition,
                "PipelineStatus": PipelineStatus.ACTIVE.value, **_parallelism(pipeline.parallelism)}

    def list_versions(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        pipeline = self.store.pipeline(params["PipelineName"])
        executions = self.store.executions(pipeline.name)
        docs = []
        for version in pipeline.versions or (pipeline.version(None),):
            doc: dict[str, Any] = {"PipelineArn": pipeline.arn, "PipelineVersionId": version.id,
                                   "CreationTime": version.created}
            ran = [e.arn for e in executions if e.version_id == version.id]
            if ran:
                doc["LastExecutionPipelineExecutionArn"] = ran[-1]
            docs.append(doc)
        docs = _created_between(docs, params)
        docs.sort(key=lambda d: d["PipelineVersionId"],
                  reverse=params.get("SortOrder", "Descending") == "Descending")
        return paginate(docs, params).response("PipelineVersionSummaries")

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        prefix = params.get("PipelineNamePrefix", "")
        docs = [_summary(p) for p in self.store.all_pipelines() if p.name.startswith(prefix)]
        docs = _created_between(docs, params)
        key = "PipelineName" if params.get("SortBy") == "Name" else "CreationTime"
        docs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending")
                  == "Descending")
        return paginate(docs, params).response("PipelineSummaries")

    def delete(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        pipeline = self.pipelines.delete(params["PipelineName"])
        self.tags.forget(pipeline.arn)
        return {"PipelineArn": pipeline.arn}

    # --- executions -------------------------------------------------------------------------

    def start(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        if params.get("SelectiveExecutionConfig"):
            raise errors.ValidationError("cove does not run selective executions; start the "
                                         "whole pipeline.")
        execution = self.pipelines.start(params["PipelineName"], ExecutionSpec(
            params.get("PipelineParameters") or [],
            params.get("PipelineExecutionDisplayName", ""),
            params.get("PipelineExecutionDescription", ""), _max_parallel(params),
            params.get("PipelineVersionId"), params.get("ClientRequestToken") or ""))
        return {"PipelineExecutionArn": execution.arn}

    def describe_execution(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        execution = self.store.execution(params["PipelineExecutionArn"])
        doc = {**_execution_summary(execution), "PipelineArn": execution.pipeline_arn,
               "CreationTime": execution.created, "LastModifiedTime": execution.modified,
               "PipelineVersionId": execution.version_id,
               "PipelineExperimentConfig": {"ExperimentName": execution.pipeline,
                                            "TrialName": execution.id},
               **_parallelism(execution.parallelism)}
        doc.pop("StartTime")
        if execution.failure_reason:
            doc["FailureReason"] = doc.pop("PipelineExecutionFailureReason")
        return doc

    def list_executions(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        pipeline = self.store.pipeline(params["PipelineName"])
        docs = [_execution_summary(e) for e in self.store.executions(pipeline.name)]
        docs = _created_between(docs, params, "StartTime")
        key = "PipelineExecutionArn" if params.get("SortBy") == "PipelineExecutionArn" \
            else "StartTime"
        docs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending")
                  == "Descending")
        return paginate(docs, params).response("PipelineExecutionSummaries")

    def list_steps(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        if not params.get("PipelineExecutionArn"):  # optional in botocore's model, not here
            raise errors.ValidationError("ListPipelineExecutionSteps needs the "
                                         "PipelineExecutionArn of the execution to list.")
        execution = self.store.execution(params["PipelineExecutionArn"])
        runs = sorted(self.store.steps(execution.arn).values(), key=lambda r: r.started,
                      reverse=params.get("SortOrder", "Descending") == "Descending")
        return paginate([render_step(r) for r in runs], params).response(
            "PipelineExecutionSteps")

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"PipelineExecutionArn": self.pipelines.stop(params["PipelineExecutionArn"]).arn}

    def retry(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        execution = self.pipelines.retry(params["PipelineExecutionArn"], _max_parallel(params))
        return {"PipelineExecutionArn": execution.arn}

    def list_parameters(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        execution = self.store.execution(params["PipelineExecutionArn"])
        values = [{"Name": k, "Value": _wire_value(v)} for k, v in execution.parameters.items()]
        return paginate(values, params, default_max=50).response("PipelineParameters")

    def definition_for_execution(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        execution = self.store.execution(params["PipelineExecutionArn"])
        return {"PipelineDefinition": execution.definition, "CreationTime": execution.created}

    # --- shared -----------------------------------------------------------------------------

    def _spec(self, params: dict[str, Any], role_arn: str) -> PipelineSpec:
        """What to create or update with; a definition in S3 is read as the pipeline's role
        would read it (``role_arn``), so it can name no object the role may not read."""
        definition = params.get("PipelineDefinition")
        location = params.get("PipelineDefinitionS3Location")
        if definition is None and location and role_arn:
            where = f"s3://{location['Bucket']}/{location['ObjectKey']}"
            try:
                raw = self.read_as_role(role_arn, location["Bucket"], location["ObjectKey"])
            except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
                raise errors.ValidationError(
                    f"The pipeline definition at {where} does not exist.") from exc
            except errors.AccessDenied as exc:
                raise errors.AccessDeniedJson(
                    f"The pipeline's role {role_arn} may not read its definition at {where}: "
                    f"{exc.message}") from exc
            definition = raw.decode("utf-8", "replace")
        return PipelineSpec(definition, params.get("RoleArn"),
                            params.get("PipelineDisplayName"), params.get("PipelineDescription"),
                            _max_parallel(params))

    def _exists(self, resource_arn: str) -> bool:
        try:
            return self.store.pipeline(resource_arn).arn == resource_arn
        except errors.ResourceNotFound:
            return False


def _max_parallel(params: dict[str, Any]) -> int | None:
    config = params.get("ParallelismConfiguration") or {}
    value = config.get("MaxParallelExecutionSteps")
    return None if value is None else int(value)


def _parallelism(value: int | None) -> dict[str, Any]:
    return {} if value is None else {
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": value}}


def _created_between(docs: list[dict[str, Any]], params: dict[str, Any],
                     key: str = "CreationTime") -> list[dict[str, Any]]:
    if "CreatedAfter" in params:
        docs = [d for d in docs if milliseconds(d[key]) > milliseconds(params["CreatedAfter"])]
    if "CreatedBefore" in params:
        docs = [d for d in docs
                if milliseconds(d[key]) < milliseconds(params["CreatedBefore"])]
    return docs


def _summary(pipeline: Pipeline) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "PipelineArn": pipeline.arn, "PipelineName": pipeline.name,
        "PipelineDisplayName": pipeline.display_name, "RoleArn": pipeline.role_arn,
        "CreationTime": pipeline.created, "LastModifiedTime": pipeline.modified}
    if pipeline.description:
        doc["PipelineDescription"] = pipeline.description
    if pipeline.last_run is not None:
        doc["LastExecutionTime"] = pipeline.last_run
        doc["LastRunTime"] = pipeline.last_run
    return doc


def _execution_summary(execution: Execution) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "PipelineExecutionArn": execution.arn, "StartTime": execution.created,
        "PipelineExecutionStatus": execution.status.value,
        "PipelineExecutionDisplayName": execution.display_name}
    if execution.description:
        doc["PipelineExecutionDescription"] = execution.description
    if execution.failure_reason:
        doc["PipelineExecutionFailureReason"] = execution.failure_reason
    return doc


def render_step(run: StepRun) -> dict[str, Any]:
    doc: dict[str, Any] = {"StepName": run.name, "StepDisplayName": run.name,
                           "StartTime": run.started, "StepStatus": run.status.value,
                           "AttemptCount": run.attempt, "Metadata": dict(run.metadata)}
    if run.ended is not None:
        doc["EndTime"] = run.ended
    if run.failure_reason and run.status.is_finished():
        doc["FailureReason"] = run.failure_reason
    if run.cache_source:
        doc["CacheHitResult"] = {"SourcePipelineExecutionArn": run.cache_source}
    return doc


def _wire_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
