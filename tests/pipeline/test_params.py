"""params.yaml builds every config the stages use, and every bad value, unknown or missing
key is reported with its params key and what is allowed."""

from __future__ import annotations

import copy

import pytest

from modelrobustness.pipeline import attack_ddn, attack_pgd, detect, distill, split, train
from modelrobustness.pipeline.params import ParamsError, attack_samples, device, seed

from helpers.configs import params


@pytest.mark.parametrize("adapter", [train.fit_config, train.architecture_config,
                                     distill.distilled_architecture, distill.temperature,
                                     split.split_config, attack_pgd.pgd_config,
                                     attack_ddn.ddn_config, detect.squeeze_config,
                                     attack_samples, seed, device])
def test_shipped_params_build_every_config(adapter):
    assert adapter(params()) is not None


def _with(key: str, value):
    changed = copy.deepcopy(params())
    *parents, last = key.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(("adapter", "key", "value", "message"), [
    (train.fit_config, "train.epochs", 0,
     "parameter train.epochs is 0; expected an integer >= 1"),
    (train.fit_config, "train.augment.flip", "no",
     "parameter train.augment.flip is 'no'; expected true or false"),
    (train.fit_config, "train.epoch", 3, "unknown parameter train.epoch; train knows"),
    (train.fit_config, "train.lr", _DELETE, "parameter train.lr is missing from params.yaml"),
    (train.fit_config, "train.augment.crop_padding", _DELETE,
     "parameter train.augment.crop_padding is missing from params.yaml"),
    (train.fit_config, "train.crop_padding", 1, "unknown parameter train.crop_padding"),
    (train.fit_config, "train.augment.mixup", True, "unknown parameter train.augment.mixup"),
    (train.fit_config, "train.eval_batch_size", 10, "unknown parameter train.eval_batch_size"),
    (distill.distilled_architecture, "distill.model", {"width": 0},
     "parameter distill.model.width is 0; expected an integer >= 1"),
    (distill.distilled_architecture, "distill.model", {"depth": 3},
     "unknown parameter distill.model.depth"),
    (train.architecture_config, "model.arch", "alexnet",
     "parameter model.arch is 'alexnet'; expected one of 'vgg_small', 'resnet18'"),
    (split.split_config, "data.color", "sepia",
     "parameter data.color is 'sepia'; expected one of 'rgb', 'gray'"),
    (split.split_config, "split.val_fraction", 1.5,
     "parameter split.val_fraction is 1.5; expected a number in (0, 1)"),
    (attack_pgd.pgd_config, "attack.pgd.losses", ["ce", "hinge"],
     "parameter attack.pgd.losses[] is 'hinge'; expected one of 'ce', 'margin'"),
    (attack_pgd.pgd_config, "attack.pgd.eps", -1,
     "parameter attack.pgd.eps is -1; expected a number > 0"),
    (attack_ddn.ddn_config, "attack.ddn.gamma", 2,
     "parameter attack.ddn.gamma is 2; expected a number in (0, 1)"),
    (detect.squeeze_config, "squeeze.squeezers", ["blur:3"],
     "parameter squeeze.squeezers[] is 'blur:3'; expected one of bit_depth:<int>"),
    (detect.squeeze_config, "squeeze.adaptive_lambda", -1.0,
     "parameter squeeze.adaptive_lambda is -1.0; expected a number >= 0"),
    (distill.temperature, "distill.temperature", 0,
     "parameter distill.temperature is 0; expected a number > 0"),
    (attack_samples, "attack.samples", -5, "parameter attack.samples is -5; expected an integer"),
    (device, "device", "tpu", "parameter device is 'tpu'; expected auto, cpu or cuda[:N]"),
])
def test_errors_name_the_key(adapter, key, value, message):
    with pytest.raises(ParamsError) as info:
        adapter(_with(key, value))
    assert str(info.value).startswith(message), str(info.value)


def test_download_errors_name_the_keys(tmp_path, monkeypatch):
    import yaml

    from modelrobustness.data.sources.tally import DownloadError
    from modelrobustness.pipeline import download

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with("data.source", "folder")))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DownloadError, match=r"needs a path.*data.source 'folder', data.path "
                                            r"None"):
        download.main()
    assert not (tmp_path / "data" / "raw").exists()


def test_null_subsections_and_overrides_are_empty():
    assert (distill.distilled_architecture(_with("distill.model", None))
            == train.architecture_config(params()))
    with pytest.raises(ParamsError, match="^parameter train.augment.crop_padding is missing"):
        train.fit_config(_with("train.augment", None))


def test_squeeze_detect_needs_linf_pgd(tmp_path, monkeypatch):
    import yaml

    from modelrobustness.pipeline import detect as detect_stage

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with("attack.pgd.norm", "l2")))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match=r"^parameter attack.pgd.norm is 'l2'; expected 'linf'"):
        detect_stage.main()
