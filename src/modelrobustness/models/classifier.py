"""A classifier: its configuration, normalization followed by a backbone.

Every model takes float images in [0, 1] (N x C x H x W) and returns logits: normalization
with the training split's per-channel mean and std is the model's first layer, so attacks
and defenses never have to know about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..utils.checks import (
    Integer,
    InvalidValue,
    OneOf,
    check_choice,
    check_fields,
    check_int,
    ruled,
)
from .networks import (
    ARCHS,
    RESNETS,
    Normalize,
    VGGSmall,
    imagenet_resnet18_state_dict,
    load_imagenet_weights,
    resnet18_imagenet,
    resnet18_small,
)

PRETRAINED: tuple[str, ...] = ("none", "imagenet")


@dataclass(frozen=True)
class ArchitectureConfig:
    """Which network to build: ``arch``, its ``width`` (vgg_small: channels of the first
    block) and ``pretrained`` weights (``none`` or ``imagenet``, the resnet18s only)."""

    arch: str = ruled(OneOf(ARCHS))
    width: int = ruled(Integer(minimum=1, maximum=1024))
    pretrained: str = ruled(OneOf(PRETRAINED))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.pretrained == "imagenet" and self.arch not in RESNETS:
            raise InvalidValue(
                "pretrained",
                self.pretrained,
                "'none': ImageNet weights exist for the resnet18 architectures only",
            )


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model before loading its weights."""

    arch: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    width: int
    class_names: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        check_choice("arch", self.arch, ARCHS)
        check_int("width", self.width)
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError("mean and std need one value per input channel")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError("class_names must have num_classes entries")


class Classifier(nn.Module):
    """Normalization followed by a backbone; carries its :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.normalize = Normalize(config.mean, config.std)
        if config.arch == "vgg_small":
            self.backbone: nn.Module = VGGSmall(
                config.in_channels, config.num_classes, config.width
            )
        elif config.arch == "resnet18":
            self.backbone = resnet18_small(config.in_channels, config.num_classes)
        else:
            self.backbone = resnet18_imagenet(config.in_channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))


def build_model(config: ModelConfig, *, pretrained: str = "none") -> Classifier:
    """A fresh classifier; ``pretrained="imagenet"`` loads torchvision's ResNet-18 weights."""
    check_choice("pretrained", pretrained, PRETRAINED)
    model = Classifier(config)
    if pretrained == "imagenet":
        if config.arch not in RESNETS:
            raise InvalidValue(
                "pretrained",
                pretrained,
                "'none': ImageNet weights exist for the resnet18 architectures only",
            )
        load_imagenet_weights(model.backbone, imagenet_resnet18_state_dict())
    return model
