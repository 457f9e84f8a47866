"""Network architectures for small images, and the normalization layer every classifier
starts with."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ARCHS: tuple[str, ...] = ("vgg_small", "resnet18", "resnet18_imagenet")
# the architectures ImageNet weights exist for (torchvision's ResNet-18)
RESNETS: tuple[str, ...] = ("resnet18", "resnet18_imagenet")


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
    return [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class VGGSmall(nn.Module):
    """A VGG-style CNN for small images: (conv-BN-ReLU) x2 blocks, max-pooling, global pool.

    Widths w, 2w, 4w; works for any input size >= 8 thanks to the global average pool.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, w),
            *_conv_bn_relu(w, w),
            nn.MaxPool2d(2),
            *_conv_bn_relu(w, 2 * w),
            *_conv_bn_relu(2 * w, 2 * w),
            nn.MaxPool2d(2),
            *_conv_bn_relu(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
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


def resnet18_imagenet(in_channels: int, num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 as made for ImageNet-sized inputs: a 7x7 stride-2 stem and a
    max-pool, so the first stage runs at a quarter of the input's side (at 224 px, 1.8
    GFLOPs per forward pass, torchvision's count; the small-input variant runs every stage at
    4 times the side, about 16 times the arithmetic)."""
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=num_classes)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


def imagenet_resnet18_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet ResNet-18 weights (downloaded once into ``$TORCH_HOME``)."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise RuntimeError(
            "pretrained 'imagenet' needs torchvision's ResNet-18 ImageNet weights, which "
            f"could not be downloaded ({type(exc).__name__}: {exc}). Offline, place "
            f"{weights.url.rsplit('/', 1)[-1]} in $TORCH_HOME/hub/checkpoints/ or train "
            "without them (pretrained 'none')."
        ) from exc


def load_imagenet_weights(net: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy ImageNet weights into a ResNet-18, except its head and a stem they do not fit.

    The 1000-class head does not fit ours, nor does the 7x7 RGB stem fit the small-input
    variant's 3x3 one or a grayscale stem: those keep their fresh initialisation. Returns
    the names not copied.
    """
    own = net.state_dict()
    skipped = [
        k for k in state if k.startswith("fc.") or k not in own or own[k].shape != state[k].shape
    ]
    net.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return skipped
