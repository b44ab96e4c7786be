"""Functions (Lambda): durable function records, warm sandboxed workers, the Lambda API."""

from cove.functions._api import LambdaApi
from cove.functions._functions import Functions, FunctionsSettings, Outcome
from cove.functions._records import Function, FunctionState, UpdateStatus
from cove.functions._rows import configuration
from cove.functions._workers import Pool

__all__ = ["Function", "FunctionState", "Functions", "FunctionsSettings", "LambdaApi", "Outcome",
           "Pool", "UpdateStatus", "configuration"]
