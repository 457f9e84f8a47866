"""Architectures, normalization as first layer, checkpoint round trip, pretrained loading."""

from __future__ import annotations

import pytest
import torch

from modelrobustness.models import (
    ArchitectureConfig,
    ModelConfig,
    build_model,
    classifier,
    load_model,
    save_checkpoint,
)


def _config(arch="vgg_small", channels=1, size=16):
    return ModelConfig(
        arch=arch,
        num_classes=4,
        in_channels=channels,
        image_size=size,
        mean=[0.3] * channels,
        std=[0.2] * channels,
        width=8,
        class_names=("a", "b", "c", "d"),
    )


@pytest.mark.parametrize(
    "arch,channels",
    [
        ("vgg_small", 1),
        ("vgg_small", 3),
        ("resnet18", 3),
        ("resnet18", 1),
        ("resnet18_imagenet", 3),
        ("resnet18_imagenet", 1),
    ],
)
def test_forward_shapes(arch, channels):
    model = build_model(_config(arch, channels)).eval()
    assert model(torch.rand(2, channels, 16, 16)).shape == (2, 4)


def test_normalization_is_first_layer():
    model = build_model(_config()).eval()
    x = torch.rand(3, 1, 16, 16)
    assert torch.allclose(model.normalize(x), (x - 0.3) / 0.2)
    assert torch.allclose(model(x), model.backbone((x - 0.3) / 0.2))


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model(_config()).eval()
    with torch.no_grad():  # make BatchNorm statistics non-trivial
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, extra={"role": "baseline"})
    loaded = load_model(path)
    assert not loaded.training
    assert loaded.config == model.config
    x = torch.rand(5, 1, 16, 16)
    assert torch.equal(loaded(x), model(x))
    # plain weights_only load works: nothing but tensors and plain types inside
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["class_names"] == ["a", "b", "c", "d"]
    assert payload["extra"] == {"role": "baseline"}


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        load_model(tmp_path / "missing.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="bare state_dict.*expected a ModelRobustness checkpoint"):
        load_model(tmp_path / "other.pt")


def test_bad_model_params():
    with pytest.raises(ValueError, match="^arch is 'alexnet'; expected one of 'vgg_small'"):
        _config(arch="alexnet")
    with pytest.raises(ValueError, match="^pretrained is 'yes'"):
        build_model(_config(), pretrained="yes")
    with pytest.raises(ValueError, match="resnet18 architectures only"):
        build_model(_config(), pretrained="imagenet")
    with pytest.raises(ValueError, match="resnet18 architectures only"):
        ArchitectureConfig(arch="vgg_small", width=16, pretrained="imagenet")


def test_imagenet_weights_loaded_except_stem_and_head(monkeypatch):
    from torchvision.models import resnet18

    reference = resnet18(weights=None).state_dict()  # stands in for ImageNet's weights
    monkeypatch.setattr(classifier, "imagenet_resnet18_state_dict", lambda: reference)
    model = build_model(_config("resnet18", 3), pretrained="imagenet")
    own = model.backbone.state_dict()
    assert torch.equal(own["layer1.0.conv1.weight"], reference["layer1.0.conv1.weight"])
    assert own["conv1.weight"].shape == (64, 3, 3, 3)
    assert own["fc.weight"].shape == (4, 512)


def test_imagenet_weights_offline_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache: must download

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="pretrained 'none'"):
        build_model(_config("resnet18", 3), pretrained="imagenet")


def test_the_imagenet_resnet_takes_every_imagenet_weight_but_the_head(monkeypatch):
    """resnet18_imagenet keeps torchvision's 7x7 stride-2 stem and max-pool (for 224 px
    images): every ImageNet weight fits it but the head's; a grayscale stem does not."""
    from torchvision.models import resnet18

    reference = resnet18(weights=None).state_dict()
    monkeypatch.setattr(classifier, "imagenet_resnet18_state_dict", lambda: reference)
    model = build_model(_config("resnet18_imagenet", 3), pretrained="imagenet")
    own = model.backbone.state_dict()
    assert torch.equal(own["conv1.weight"], reference["conv1.weight"])
    assert not isinstance(model.backbone.maxpool, torch.nn.Identity)
    assert own["fc.weight"].shape == (4, 512)
    gray = build_model(_config("resnet18_imagenet", 1), pretrained="imagenet").backbone
    assert gray.state_dict()["conv1.weight"].shape == (64, 1, 7, 7)
