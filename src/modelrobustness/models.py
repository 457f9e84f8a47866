"""Classifier architectures and checkpoints.

Every model takes float images in [0, 1] (N x C x H x W) and returns logits: normalization
with the training split's per-channel mean and std is the model's first layer, so attacks
and defenses never have to know about it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .files import atomic_write_bytes

ARCHS: tuple[str, ...] = ("vgg_small", "resnet18")
PRETRAINED: tuple[str, ...] = ("none", "imagenet")
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model before loading its weights."""

    arch: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    width: int = 32
    class_names: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.arch not in ARCHS:
            raise ValueError(f"parameter model.arch is {self.arch!r}; expected one of "
                             f"{', '.join(ARCHS)}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError("mean and std need one value per input channel")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError("class_names must have num_classes entries")


class Normalize(nn.Module):
    """(x - mean) / std per channel, with mean and std stored as buffers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class VGGSmall(nn.Module):
    """A VGG-style CNN for small images: (conv-BN-ReLU) x2 blocks, max-pooling, global pool.

    Widths w, 2w, 4w; works for any input size >= 8 thanks to the global average pool.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, w), *_conv_bn_relu(w, w), nn.MaxPool2d(2),
            *_conv_bn_relu(w, 2 * w), *_conv_bn_relu(2 * w, 2 * w), nn.MaxPool2d(2),
            *_conv_bn_relu(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def resnet18_small(in_channels: int, num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 for small inputs: a 3x3 stride-1 stem and no max-pool."""
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def imagenet_resnet18_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet ResNet-18 weights (downloaded once into ``$TORCH_HOME``)."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise RuntimeError(
            "model.pretrained: imagenet needs torchvision's ResNet-18 ImageNet weights, which "
            f"could not be downloaded ({type(exc).__name__}: {exc}). Offline, place "
            f"{weights.url.rsplit('/', 1)[-1]} in $TORCH_HOME/hub/checkpoints/ or set "
            "model.pretrained: none."
        ) from exc


def load_imagenet_weights(net: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy ImageNet weights into a small-input ResNet-18, except its stem and head.

    The 7x7 stride-2 stem does not fit the 3x3 stride-1 one, and the 1000-class head does
    not fit ours: both keep their fresh initialisation. Returns the names not copied.
    """
    own = net.state_dict()
    skipped = [k for k in state if k.startswith(("conv1.", "fc.")) or k not in own
               or own[k].shape != state[k].shape]
    net.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return skipped


class Classifier(nn.Module):
    """Normalization followed by a backbone; carries its :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.normalize = Normalize(config.mean, config.std)
        if config.arch == "vgg_small":
            self.backbone: nn.Module = VGGSmall(config.in_channels, config.num_classes,
                                                config.width)
        else:
            self.backbone = resnet18_small(config.in_channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))


def build_model(config: ModelConfig, *, pretrained: str = "none") -> Classifier:
    """A fresh classifier; ``pretrained="imagenet"`` loads torchvision's ResNet-18 weights."""
    if pretrained not in PRETRAINED:
        raise ValueError(f"parameter model.pretrained is {pretrained!r}; expected one of "
                         f"{', '.join(PRETRAINED)}")
    model = Classifier(config)
    if pretrained == "imagenet":
        if config.arch != "resnet18":
            raise ValueError("model.pretrained: imagenet is only available for "
                             "model.arch: resnet18")
        load_imagenet_weights(model.backbone, imagenet_resnet18_state_dict())
    return model


def save_checkpoint(path: str | os.PathLike, model: Classifier,
                    extra: dict[str, Any] | None = None) -> None:
    """Save weights and config (plain types only, so ``weights_only=True`` can read it)."""
    config = asdict(model.config)
    config["mean"] = [float(v) for v in config["mean"]]
    config["std"] = [float(v) for v in config["std"]]
    config["class_names"] = list(config["class_names"])
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    import io

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} not found: run `dvc repro` first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a ModelRobustness checkpoint (format "
                         f"{CHECKPOINT_FORMAT})")
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild a saved classifier in eval mode: float [0, 1] N x C x H x W in, logits out."""
    payload = load_checkpoint(path)
    config = ModelConfig(**payload["config"])
    model = Classifier(config)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()
