"""Notebook instances: JupyterLab servers cove manages, in an environment where boto3 and the
SageMaker SDK reach cove unchanged; and running notebooks in them headless."""

from cove.notebooks._api import NotebookApi, describe_notebook_instance
from cove.notebooks._instances import (
    INSTALL_HINT,
    LOG_GROUP,
    NotebookInstances,
    NotebookSettings,
    jupyter_missing,
)
from cove.notebooks._lifecycle import NotebookInstanceStatus
from cove.notebooks._records import NotebookInstance
from cove.notebooks._runner import Run, results, run_notebook

__all__ = ["INSTALL_HINT", "LOG_GROUP", "NotebookApi", "NotebookInstance",
           "NotebookInstanceStatus", "NotebookInstances", "NotebookSettings", "Run",
           "describe_notebook_instance", "jupyter_missing", "results", "run_notebook"]
