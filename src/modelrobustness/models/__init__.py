"""Models: architectures (``networks``), the classifier and its config (``classifier``),
checkpoints (``checkpoint``)."""

from .checkpoint import load_model, save_checkpoint
from .classifier import ArchitectureConfig, Classifier, ModelConfig, build_model

__all__ = [
    "ArchitectureConfig",
    "Classifier",
    "ModelConfig",
    "build_model",
    "load_model",
    "save_checkpoint",
]
