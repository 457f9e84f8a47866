"""Files that are not checkpoints: the loader says what they are, and never runs a pickle."""

from __future__ import annotations

import pickle
import random
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from modelrobustness.models.checkpoint import (
    CHECKPOINT_FORMAT,
    NotACheckpoint,
    describe_file,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from modelrobustness.models.classifier import Classifier, ModelConfig

EXPECTED = (
    "; expected a ModelRobustness checkpoint (written by the train stages: format 1, "
    "a model config and its state_dict)"
)


def _classifier() -> Classifier:
    torch.manual_seed(0)
    return Classifier(
        ModelConfig(
            arch="vgg_small",
            num_classes=3,
            in_channels=1,
            image_size=12,
            mean=[0.5],
            std=[0.5],
            width=4,
            class_names=["a", "b", "c"],
        )
    )


def _payload(model: Classifier, **changes) -> dict:
    """What save_checkpoint writes for ``model``, with ``changes``."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": {
            "arch": "vgg_small",
            "num_classes": 3,
            "in_channels": 1,
            "image_size": 12,
            "mean": [0.5],
            "std": [0.5],
            "width": 4,
            "class_names": ["a", "b", "c"],
        },
        "state_dict": model.state_dict(),
        "extra": {},
    }
    return {**payload, **changes}


def _not_a_checkpoint(path: Path, what: str, *, build: bool = True) -> NotACheckpoint:
    """load_model (or load_checkpoint) fails on ``path`` saying ``what`` it is."""
    with pytest.raises(NotACheckpoint) as info:
        (load_model if build else load_checkpoint)(path)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.path == path
    assert what in error.what
    assert str(error) == f"{path} is {error.what}{EXPECTED}"
    return error


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    from torchvision.models import resnet18

    return resnet18(weights=None)


def test_checkpoint_round_trip(tmp_path):
    model = _classifier().eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, extra={"role": "baseline"})
    loaded = load_model(path)
    assert loaded.config == model.config and not loaded.training
    x = torch.rand(2, 1, 12, 12)
    assert torch.equal(loaded(x), model(x))
    assert load_checkpoint(path)["extra"] == {"role": "baseline"}
    assert describe_file(path) == "a ModelRobustness checkpoint (format 1)"


def test_missing_file_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        load_model(tmp_path / "missing.pt")


def test_torchvision_state_dict(tmp_path, resnet18):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18.state_dict(), path)
    _not_a_checkpoint(
        path,
        "a bare state_dict (122 tensors, e.g. conv1.weight, bn1.weight): it has no model config",
    )
    assert describe_file(path).startswith("a bare state_dict (122 tensors")


@pytest.mark.parametrize("how", ["zip", "protocol4", "legacy"])
def test_whole_pickled_model(tmp_path, resnet18, how):
    path = tmp_path / "resnet18.pt"
    kwargs = {
        "zip": {},
        "protocol4": {"pickle_protocol": 4},
        "legacy": {"_use_new_zipfile_serialization": False},
    }[how]
    torch.save(resnet18, path, **kwargs)
    what = (
        "a whole pickled model (torchvision.models.resnet.ResNet, saved with "
        "torch.save(model)); save its state_dict with this project's train stages instead"
    )
    _not_a_checkpoint(path, what)
    assert describe_file(path) == what


def test_torchscript(tmp_path):
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated
        torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(2, 2), nn.ReLU())), path)
    _not_a_checkpoint(
        path,
        "a TorchScript archive (torch.jit.save); this tool loads "
        "state_dict checkpoints, not scripted models",
    )


def test_other_format(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({**_payload(_classifier()), "format": 2}, path)
    _not_a_checkpoint(path, "a checkpoint of format 2; this version reads format 1", build=False)


def test_other_dict(tmp_path):
    path = tmp_path / "training.pt"
    torch.save({"epoch": 3, "model": {"w": torch.zeros(1)}}, path)
    _not_a_checkpoint(path, "a dict of 'epoch', 'model', not a checkpoint")
    torch.save({"format": 1, "state_dict": {}}, path)
    _not_a_checkpoint(path, "a checkpoint of format 1 without a config")


def test_checkpoint_whose_model_does_not_build(tmp_path):
    model = _classifier()
    path = tmp_path / "broken.pt"
    state = dict(model.state_dict())
    first = next(iter(state))
    del state[first]
    torch.save(_payload(model, state_dict=state), path)
    load_checkpoint(path)  # the payload itself looks right
    _not_a_checkpoint(
        path,
        "a ModelRobustness checkpoint whose model does not build "
        f"(state_dict: 1 missing key, e.g. {first})",
    )

    state = dict(model.state_dict(), extra_weight=torch.zeros(1))
    torch.save(_payload(model, state_dict=state), path)
    _not_a_checkpoint(path, "(state_dict: 1 unexpected key, e.g. extra_weight)")

    state = {
        key: value[..., :1] if value.dim() == 4 else value
        for key, value in model.state_dict().items()
    }
    torch.save(_payload(model, state_dict=state), path)
    _not_a_checkpoint(path, "whose model does not build (state_dict: ")
    assert "the model needs" in _not_a_checkpoint(path, "has shape").what

    config = dict(_payload(model)["config"], arch="alexnet")
    torch.save(_payload(model, config=config), path)
    _not_a_checkpoint(path, "does not build (config: arch is 'alexnet'; expected one of")
    config = dict(_payload(model)["config"], depth=3)
    torch.save(_payload(model, config=config), path)
    _not_a_checkpoint(path, "does not build (config: ")
    assert "depth" in _not_a_checkpoint(path, "unexpected keyword argument").what


@pytest.mark.parametrize(
    "fmt, what",
    [
        ("PNG", "a PNG image"),
        ("JPEG", "a JPEG image"),
        ("GIF", "a GIF image"),
        ("BMP", "a BMP image"),
        ("WEBP", "a WEBP image"),
    ],
)
def test_image(tmp_path, fmt, what):
    path = tmp_path / "picture.pt"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, format=fmt)
    _not_a_checkpoint(path, what)
    assert describe_file(path) == what


def test_text_empty_random_and_zip(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("model: resnet18\népoques: 3\n", encoding="utf-8")
    _not_a_checkpoint(text, "a text file")
    lfs = tmp_path / "lfs.pt"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    _not_a_checkpoint(lfs, "a Git LFS pointer")

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    _not_a_checkpoint(empty, "an empty file")

    noise = tmp_path / "noise.pt"
    noise.write_bytes(b"\x00\x07" + random.Random(0).randbytes(5000))
    _not_a_checkpoint(noise, "not a PyTorch file")

    archive = tmp_path / "archive.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme/notes.txt", "hello")
    _not_a_checkpoint(archive, "a zip archive, not a PyTorch file")


def test_odd_pickles_and_zips_never_raise(tmp_path):
    """Truncated files, garbage where data.pkl should be, plain pickles: described, no crash."""
    good = tmp_path / "good.pt"
    save_checkpoint(good, _classifier())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:3000])
    _not_a_checkpoint(truncated, "a damaged or truncated zip archive")

    garbage = tmp_path / "garbage.pt"
    rng = random.Random(1)
    with zipfile.ZipFile(garbage, "w") as zf:
        zf.writestr("garbage/data.pkl", b"\x80\x02" + rng.randbytes(2000))
        zf.writestr("garbage/byteorder", "little")
    _not_a_checkpoint(garbage, "a PyTorch file that torch.load(weights_only=True) cannot read")

    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=5))
    _not_a_checkpoint(plain, "a pickle file that torch.load(weights_only=True) refuses")
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(pickle.dumps(nn.Linear(2, 2), protocol=4)[:150])
    # a truncated pickle still names the class it would build, from the opcodes it has
    _not_a_checkpoint(cut, "a whole pickled model (torch.nn.modules.linear.Linear")

    assert describe_file(tmp_path) == "a directory"
    assert describe_file(tmp_path / "missing").startswith("not a readable file")


TRAP_MODULE = '''
import pathlib

from torch import nn

pathlib.Path(__file__).with_name("imported.marker").write_text("imported")


def _spring(marker):
    pathlib.Path(marker).write_text("reduce ran")
    return 0


class TrapNet(nn.Module):
    """A model whose unpickling writes a marker file."""

    def __init__(self, marker):
        super().__init__()
        self.marker = marker
        self.fc = nn.Linear(2, 2)

    def __setstate__(self, state):
        pathlib.Path(state["marker"]).write_text("setstate ran")
        super().__setstate__(state)


class Trap:
    """Any object whose unpickling calls a function that writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _spring, (self.marker,)
'''


@pytest.mark.parametrize("legacy", [False, True])
def test_never_unpickles_untrusted_code(tmp_path, monkeypatch, legacy):
    name = f"trapmod_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TRAP_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))  # stays importable while loading
    module = __import__(name)
    markers = [tmp_path / "setstate.marker", tmp_path / "reduce.marker"]
    kwargs = {"_use_new_zipfile_serialization": False} if legacy else {}
    net, trap = tmp_path / "net.pt", tmp_path / "trap.pt"
    torch.save(module.TrapNet(str(markers[0])), net, **kwargs)
    torch.save(
        {"format": 1, "config": {}, "state_dict": {"w": module.Trap(str(markers[1]))}},
        trap,
        **kwargs,
    )
    monkeypatch.delitem(sys.modules, name)
    imported = tmp_path / "imported.marker"
    imported.unlink()

    error = _not_a_checkpoint(
        net, f"a whole pickled model ({name}.TrapNet, saved with torch.save(model))"
    )
    assert describe_file(net) == error.what
    error = _not_a_checkpoint(trap, f"{name}._spring", build=False)
    assert "torch.load(weights_only=True) refuses" in error.what
    assert name in describe_file(trap)
    assert not imported.exists() and name not in sys.modules
    assert not any(marker.exists() for marker in markers)

    # the traps are real: unpickling these files for real springs them
    torch.load(net, weights_only=False)
    torch.load(trap, weights_only=False)
    assert imported.exists() and all(marker.exists() for marker in markers)
