"""Image URIs → runtimes: what runs a training job, in place of the container the URI names."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from cove import errors

_ECR_RE = re.compile(r"^(?:[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/)?"
                     r"(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9._-]+))?$")

#: repository name -> (runtime kind, what it is)
REPOSITORIES = {
    "sagemaker-xgboost": "xgboost",
    "xgboost": "xgboost",  # the first-generation XGBoost image (version "1")
    "linear-learner": "linear-learner",
    "sagemaker-scikit-learn": "sklearn",
    "pytorch-training": "pytorch",
    "pytorch-inference": "pytorch",
    "pytorch-inference-graviton": "pytorch",  # the SDK's choice for ml.c6g/c7g instances
    "pytorch-inference-eia": "pytorch",  # Elastic Inference, 1.3-1.5
    "pytorch-trcomp-training": "pytorch",  # the training compiler's image
    "sagemaker-pytorch": "pytorch",  # the legacy repository: PyTorch 0.4.0-1.3.1
}
SCRIPT_MODE_KINDS = ("sklearn", "pytorch")


@dataclass(frozen=True)
class Runtime:
    """How to run one image: a built-in algorithm module, or a user's script (script mode)."""

    image: str
    kind: str  # xgboost | linear-learner | sklearn | pytorch
    script_mode: bool

    @property
    def gpu(self) -> bool:
        """Whether the image was built for GPUs (its tag says ``gpu``)."""
        match = _ECR_RE.match(self.image.strip())
        return bool(match and match["tag"] and "gpu" in match["tag"].split("-"))

    def gpu_note(self) -> str:
        """The job-log line for a GPU image: cove gives its processes no GPU."""
        return (f"The image {self.image} is built for GPUs; cove runs it on CPU (the job "
                "sees SM_NUM_GPUS=0 and torch.cuda.is_available() is False).")

    @property
    def algorithm_module(self) -> str:
        return f"cove.algorithms.{self.kind.replace('-', '_')}"

    def builtin_command(self) -> list[str]:
        return [sys.executable, "-m", self.algorithm_module]


def image_kind(image: str) -> str | None:
    """The runtime kind of an image URI (``xgboost``, ``sklearn``, ...), None if cove has none."""
    match = _ECR_RE.match(image.strip())
    return REPOSITORIES.get(match["repo"].rsplit("/", 1)[-1]) if match else None


def resolve_runtime(image: str, hyperparameters: dict[str, str]) -> Runtime:
    """The runtime for ``image``; any image becomes script mode when ``sagemaker_program`` is
    set (the SDK's framework estimators, XGBoost's included, send it)."""
    kind = image_kind(image)
    if kind is None:
        raise errors.ValidationError(
            f"cove cannot run the image {image!r}: it runs SageMaker's built-in XGBoost "
            "(sagemaker-xgboost), linear learner (linear-learner) and the scikit-learn "
            "(sagemaker-scikit-learn) and PyTorch (pytorch-training) script-mode images; "
            "get a URI with sagemaker.image_uris.retrieve(...).")
    script = kind in SCRIPT_MODE_KINDS or "sagemaker_program" in hyperparameters
    return Runtime(image, kind, script)
