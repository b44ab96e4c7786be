"""Notebook instances: JupyterLab servers cove manages, in an environment where boto3 and the
SageMaker SDK reach cove unchanged; and running notebooks in them headless."""

from cove.notebooks._api import NotebookApi
from cove.notebooks._instances import (
    INSTALL_HINT,
    LOG_GROUP,
    NotebookInstances,
    NotebookSettings,
    jupyter_missing,
)
from cove.notebooks._lifecycle import NotebookInstanceStatus
from cove.notebooks._runner import Run, results, run_notebook

__all__ = ["INSTALL_HINT", "LOG_GROUP", "NotebookApi", "NotebookInstanceStatus",
           "NotebookInstances", "NotebookSettings", "Run", "jupyter_missing", "results",
           "run_notebook"]
