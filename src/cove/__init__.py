"""cove: SageMaker's train → tune → deploy → serve loop on one machine, no Docker, no cloud."""

__version__ = "0.1.0"
