"""cove: SageMaker's train → tune → deploy → serve loop on one machine, no Docker, no cloud."""

__version__ = "0.1.0"

__all__ = ["__version__", "execution_role", "sagemaker_session"]


def __getattr__(name: str) -> object:
    # Lazily: `import cove` must not import boto3 or the SageMaker SDK.
    if name in ("execution_role", "sagemaker_session"):
        from cove import _sdk

        return getattr(_sdk, name)
    raise AttributeError(f"module 'cove' has no attribute {name!r}")
