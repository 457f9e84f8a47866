"""Every leaf of params.yaml is checked: one schema covers them all, each wrong type and each
value out of range is reported by `modelrobustness check-params` (every problem at once, the
key, the value and what is allowed, no traceback) and by the stage that reads it, before it
writes anything."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrobustness.cli import main
from modelrobustness.pipeline import attack_ddn, attack_pgd, detect, distill, download, split, train
from modelrobustness.pipeline.params import ParamsError, attack_samples, device, load_params, seed
from modelrobustness.pipeline.schema import ADAPTERS, check_params, leaf_keys

from helpers.configs import params
from helpers.imports import ROOT

# Each leaf of params.yaml: (a value of the wrong type, a value of the right type that is out
# of range or not allowed). Written here, not derived from the schema, so a leaf whose rule
# is missing or too lax fails.
BAD: dict[str, tuple[Any, Any]] = {
    "seed": ("42", -1),
    "device": (3, "tpu"),
    "deterministic": ("yes", 1),
    "data.source": (1, "foo"),
    "data.path": (5, ""),
    "data.classes": ("cat", []),
    "data.max_pixels": ("big", 0),
    "data.image_size": (28.0, 4),
    "data.color": (1, "sepia"),
    "data.aspect": (True, "stretch"),
    "split.val_fraction": ("0.1", 1.5),
    "split.test_fraction": ([0.2], 0.0),
    "split.max_per_class": ("all", 1),
    "model.arch": (1, "alexnet"),
    "model.width": (16.5, 0),
    "model.pretrained": (False, "yes"),
    "train.epochs": ("12", 0),
    "train.batch_size": (128.0, 0),
    "train.optimizer": (1, "rmsprop"),
    "train.lr": ("fast", 0),
    "train.momentum": ("0.9", 1.0),
    "train.weight_decay": ("0", -0.1),
    "train.schedule": (1, "step"),
    "train.augment.crop_padding": (2.5, -1),
    "train.augment.flip": ("yes", 1),
    "train.nproc": ("2", 0),
    "train.loader_workers": (1.5, -1),
    "train.gpu.precision": (16, "fp8"),
    "train.gpu.channels_last": ("no", 0),
    "train.gpu.compile": ("yes", 1),
    "attack.samples": ("300", -5),
    "attack.batch_size": ([100], 0),
    "attack.nproc": (2.0, 0),
    "attack.precision": (16, "fp64"),
    "attack.pgd.eps": ("0.1", 5),
    "attack.pgd.eps_list": (0.1, []),
    "attack.pgd.norm": (2, "l1"),
    "attack.pgd.steps": (40.0, 0),
    "attack.pgd.step_size": ("0.01", 0),
    "attack.pgd.restarts": ("1", 0),
    "attack.pgd.random_start": ("no", 0),
    "attack.pgd.early_stop": ("yes", 2),
    "attack.pgd.losses": ("ce", ["ce", "ce"]),
    "attack.pgd.curve_losses": ({"margin": 1}, []),
    "attack.autoattack.eps": ("0.1", -0.1),
    "attack.autoattack.version": (1, "plus"),
    "attack.autoattack.steps": (25.0, 0),
    "attack.autoattack.n_target_classes": ("3", 0),
    "attack.autoattack.square_queries": ([1000], 0),
    "attack.ddn.steps": (100.5, 0),
    "attack.ddn.init_norm": ("1", 0),
    "attack.ddn.gamma": ("0.05", 1.5),
    "attack.ddn.levels": ("256", 1),
    "adversarial.method": (1, "free"),
    "adversarial.eps": ("0.1", 0),
    "adversarial.alpha": ("0.1", -0.1),
    "adversarial.steps": (7.5, 0),
    "adversarial.beta": ("6", -1),
    "adversarial.warmup_epochs": ("4", -1),
    "adversarial.val_samples": (200.0, 0),
    "adversarial.epochs": ("12", 0),
    "adversarial.init": (1, "imagenet"),
    "distill.temperature": ("20", 0),
    "distill.model": ("vgg", {"width": 0}),
    "squeeze.squeezers": ("bit_depth:1", ["blur:3"]),
    "squeeze.threshold": ("1", 2.5),
    "squeeze.fpr": ("0.05", 1.0),
    "squeeze.select": ("true", 0),
    "squeeze.select_samples": (300.0, 0),
    "squeeze.adaptive_lambda": ("1", -1.0),
    "squeeze.adaptive_steps": ([40], 0),
}
CASES = [
    (key, value, kind)
    for key, pair in BAD.items()
    for value, kind in zip(pair, ("wrong type", "out of range"), strict=True)
]


def _leaves(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a params mapping (an empty mapping is a leaf: overrides)."""
    if isinstance(node, dict) and node:
        return [k for name, v in node.items() for k in _leaves(v, f"{prefix}{name}.")]
    return [prefix.rstrip(".")]


def _with(key: str, value: Any, base: dict | None = None) -> dict:
    changed = copy.deepcopy(base or params())
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


def _check_cli(capsys, tmp_path: Path, values: dict) -> tuple[int, str]:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    capsys.readouterr()
    code = main(["check-params", "--project", str(ROOT), str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_schema_covers_every_leaf_of_params_yaml():
    shipped = _leaves(params())
    assert sorted(shipped) == sorted(leaf_keys()), "params.yaml and the schema differ"
    assert sorted(BAD) == sorted(shipped), "a leaf of params.yaml has no case in BAD"


def test_shipped_params_pass(capsys, tmp_path):
    assert check_params(params(), root=ROOT) == []
    code, out = _check_cli(capsys, tmp_path, params())
    assert code == 0 and f"all {len(BAD)} parameters are valid" in out


@pytest.mark.parametrize(
    ("key", "value", "kind"), CASES, ids=[f"{k}-{kind}" for k, _, kind in CASES]
)
def test_every_bad_leaf_is_named_by_check_params_and_by_its_stage(
    capsys, tmp_path, key, value, kind
):
    bad = _with(key, value)
    code, out = _check_cli(capsys, tmp_path, bad)
    assert code == 1 and "Traceback" not in out, out
    lines = [line.strip() for line in out.splitlines()[1:]]
    mine = [
        line
        for line in lines
        if line.startswith(f"parameter {key}") or line.startswith(f"unknown parameter {key}")
    ]
    assert mine, f"{key} = {value!r} ({kind}) is not reported:\n{out}"
    message = mine[0]
    assert "; expected " in message or " knows " in message, message
    shown = [value, *(value if isinstance(value, (list, dict)) else [])]
    if isinstance(value, dict):
        shown += list(value.values())
    shown += [float(v) for v in shown if type(v) is int]  # numbers may be shown as floats
    assert any(f"is {v!r};" in message for v in shown), message
    # the stage that reads the key stops on it too, with the same message
    raised = []
    for adapter in (*ADAPTERS, lambda p: download.download_settings(p, ROOT)):
        try:
            adapter(bad)
        except ParamsError as exc:
            raised += exc.messages
    assert message in raised, f"no stage adapter reports {message!r}: {raised}"


def test_every_problem_at_once_and_unknown_or_missing_keys(capsys, tmp_path):
    bad = _with("attack.samples", 0)
    bad = _with("train.epoch", 3, bad)
    bad = _with("squeeze.fpr", _DELETE, bad)
    bad["attak"] = {"samples": 3}
    code, out = _check_cli(capsys, tmp_path, bad)
    assert code == 1
    assert "4 problem(s)" in out
    assert "parameter attack.samples is 0; expected an integer >= 1" in out
    assert "unknown parameter train.epoch; train knows epochs, batch_size" in out
    assert "parameter squeeze.fpr is missing from params.yaml" in out
    assert "unknown parameter attak; params.yaml knows seed, device, deterministic, data" in out


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "model.pretrained",
            "imagenet",
            "parameter model.pretrained is 'imagenet'; expected 'none': ImageNet weights exist for "
            "the resnet18 architectures only",
        ),
        (
            "split.test_fraction",
            0.95,
            "parameter split.test_fraction is 0.95; expected below 1 - val_fraction = 0.9",
        ),
        (
            "attack.pgd.eps_list",
            [0.05, 2],
            "parameter attack.pgd.eps_list[1] is 2.0; expected a "
            "number in (0, 1] for the linf norm",
        ),
        ("data.source", "folder", "parameter data.path is None; expected a raw-img folder"),
        (
            "attack.autoattack.eps",
            1.5,
            "parameter attack.autoattack.eps is 1.5; expected a number in (0, 1] for the linf norm",
        ),
        (
            "adversarial.eps",
            1.5,
            "parameter adversarial.eps is 1.5; expected a number in (0, 1] for the linf norm",
        ),
        (
            "adversarial.warmup_epochs",
            12,
            "parameter adversarial.warmup_epochs is 12.0; expected below adversarial.epochs = "
            f"{params()['adversarial']['epochs']}",
        ),
        (
            "device",
            "cuda:7",
            "parameter device is 'cuda:7'; expected auto or cpu: this machine has no CUDA device",
        ),
    ],
)
def test_rules_across_keys(capsys, tmp_path, key, value, message):
    import torch

    if key == "device" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out = _check_cli(capsys, tmp_path, _with(key, value))
    assert code == 1 and message in out, out


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("attack.pgd.eps", 10**400, "parameter attack.pgd.eps is 1000"),
        ("device", "cuda:99999999999999999999", "parameter device is 'cuda:9999"),
        (
            "squeeze.squeezers",
            ["bit_depth:\u00b2"],
            "parameter squeeze.squeezers[0] is 'bit_depth:\u00b2'; expected one of",
        ),
        (
            "data.max_pixels",
            10**9,
            "parameter data.max_pixels is 1000000000; expected an "
            "integer from 1 to 89478485 or null",
        ),
    ],
)
def test_odd_values_are_messages_not_tracebacks(capsys, tmp_path, key, value, message):
    code, out = _check_cli(capsys, tmp_path, _with(key, value))
    assert code == 1 and message in out and "Traceback" not in out, out


def test_a_value_where_a_section_belongs_is_one_message(capsys, tmp_path):
    code, out = _check_cli(capsys, tmp_path, _with("attack", []))
    assert code == 1
    assert out.splitlines()[1:] == ["  parameter attack is []; expected a mapping of settings"]


def test_a_missing_folder_path_is_named(capsys, tmp_path):
    bad = _with("data.path", "no/such/folder", _with("data.source", "folder"))
    code, out = _check_cli(capsys, tmp_path, bad)
    assert code == 1
    assert "parameter data.path is 'no/such/folder'; expected an existing folder or .zip" in out


def test_broken_yaml_names_the_line(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 42\ntrain:\n  epochs: [3\n")
    with pytest.raises(ParamsError, match=r"params.yaml is not valid YAML at line \d+"):
        load_params(path)
    capsys.readouterr()
    assert main(["check-params", str(path)]) == 1
    assert "is not valid YAML" in capsys.readouterr().err


@pytest.mark.parametrize(
    "adapter",
    [
        train.fit_config,
        train.architecture_config,
        distill.distilled_architecture,
        distill.temperature,
        split.split_config,
        attack_pgd.pgd_config,
        attack_ddn.ddn_config,
        detect.squeeze_config,
        detect.detector_attack_config,
        attack_samples,
        seed,
        device,
    ],
)
def test_shipped_params_build_every_config(adapter):
    assert adapter(params()) is not None
    assert set(ADAPTERS) >= {adapter}


def test_null_subsections_and_overrides_are_empty():
    assert distill.distilled_architecture(
        _with("distill.model", None)
    ) == train.architecture_config(params())
    with pytest.raises(ParamsError, match="^parameter train.augment.crop_padding is missing"):
        train.fit_config(_with("train.augment", None))


def test_a_stage_stopped_by_a_parameter_prints_one_message_and_writes_nothing(tmp_path):
    """The stage script itself (as `dvc repro` runs it): exit status 2, one message naming
    the key, no traceback, and the previous outputs untouched."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with("train.epochs", 0)))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "baseline.pt").write_bytes(b"previous run")
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages/train_baseline.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "train_baseline: error: parameter train.epochs is 0; expected an integer >= 1\n"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "models" / "baseline.pt").read_bytes() == b"previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "params.yaml"]


def test_the_attack_stage_checks_every_attacks_parameters_before_the_first_runs(
    tmp_path, monkeypatch
):
    """attack@<model> runs PGD, AutoAttack, then DDN: a bad DDN parameter must stop it before
    PGD writes its outputs, not after two attacks' worth of work."""
    from modelrobustness.pipeline import attack

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with("attack.ddn.steps", 0)))
    monkeypatch.chdir(tmp_path)
    started = []
    monkeypatch.setattr(attack, "run_attacks", lambda *args: started.append(args))
    with pytest.raises(ParamsError, match=r"attack\.ddn\.steps is 0"):
        attack.main("baseline")
    assert not started
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params()))
    attack.main("baseline")
    ((_, model, runs),) = started
    assert model == "baseline" and [r.attack for r in runs] == ["pgd", "autoattack", "ddn"]


def test_download_errors_name_the_keys(tmp_path, monkeypatch):
    from modelrobustness.data.sources.tally import DownloadError

    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(_with("data.path", str(empty), _with("data.source", "folder")))
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DownloadError, match=r"data.source 'folder', data.path '.*empty'"):
        download.main()
    assert not (tmp_path / "data" / "raw").exists()


def test_autoattack_budget_and_norm_follow_pgd():
    from modelrobustness.pipeline.attack_autoattack import autoattack_settings

    config, eps, norm = autoattack_settings(params())
    assert (eps, norm) == (params()["attack"]["pgd"]["eps"], params()["attack"]["pgd"]["norm"])
    assert config.setting("steps") == 25 and config.setting("square_queries") == 500
    own = _with("attack.autoattack.eps", 0.03)
    own = _with("attack.autoattack.steps", 7, own)
    config, eps, _ = autoattack_settings(_with("attack.pgd.norm", "l2", own))
    assert eps == 0.03 and config.setting("steps") == 7 and config.setting("n_target_classes") == 3
    # an L2 PGD budget above 1 is fine for PGD, but not once the norm is L-inf again
    with pytest.raises(ParamsError, match="parameter attack.pgd.eps is 2.0"):
        autoattack_settings(_with("attack.pgd.eps", 2.0))


def test_adversarial_budget_and_norm_follow_pgd():
    from modelrobustness.pipeline.adversarial import adversarial_settings

    settings = adversarial_settings(params())
    pgd = params()["attack"]["pgd"]
    assert (settings.config.eps, settings.config.norm) == (pgd["eps"], pgd["norm"])
    assert settings.config.method == params()["adversarial"]["method"]
    assert settings.val_samples >= 1
    own = _with("adversarial.eps", 0.03)
    config = adversarial_settings(_with("attack.pgd.norm", "l2", own)).config
    assert (config.eps, config.norm) == (0.03, "l2")
    with pytest.raises(ParamsError, match="parameter attack.pgd.eps is 2.0"):
        adversarial_settings(_with("attack.pgd.eps", 2.0))


def test_adversarial_epochs_override_train_epochs_alone():
    from modelrobustness.pipeline.adversarial import adversarial_settings

    own = _with("train.epochs", 5, _with("adversarial.warmup_epochs", 2))
    inherited = adversarial_settings(_with("adversarial.epochs", None, own)).fit
    assert inherited == train.fit_config(own) and inherited.epochs == 5
    overridden = adversarial_settings(_with("adversarial.epochs", 9, own)).fit
    assert overridden.epochs == 9 and overridden.lr == inherited.lr
    assert train.fit_config(_with("adversarial.epochs", 9, own)).epochs == 5
    # the warm-up is checked against the epochs this stage runs, named by their key
    with pytest.raises(
        ParamsError,
        match=r"warmup_epochs is 3.0; expected below "
        r"adversarial.epochs = 3",
    ):
        adversarial_settings(
            _with("adversarial.epochs", 3, _with("adversarial.warmup_epochs", 3, own))
        )
    with pytest.raises(ParamsError, match=r"expected below train.epochs = 5"):
        adversarial_settings(
            _with("adversarial.epochs", None, _with("adversarial.warmup_epochs", 6, own))
        )
    with pytest.raises(ParamsError, match="adversarial.epochs"):
        adversarial_settings(_with("adversarial.epochs", 0, own))


def test_squeeze_detect_needs_linf_pgd(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with("attack.pgd.norm", "l2")))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match=r"^parameter attack.pgd.norm is 'l2'; expected 'linf'"):
        detect.main()
