"""Faults a user can meet, each answered by one message that names the thing and what to do,
with nothing half-written: a full disk, a read-only folder, Ctrl-C, a foreign or truncated
upstream artifact."""

from __future__ import annotations

import errno
import json
import tempfile

import numpy as np
import pytest

from modelrobustness.data.prepared import PreparedDataError, load_split_uint8
from modelrobustness.models import ModelConfig, build_model, save_checkpoint
from modelrobustness.pipeline.artifacts.models import ForeignModel, load_trained
from modelrobustness.pipeline.entry import INTERRUPTED_STATUS, USER_ERROR_STATUS, run_stage
from modelrobustness.pipeline.paths import ProjectPaths
from modelrobustness.utils import io as io_module
from modelrobustness.utils.io import atomic_write_json


def _disk_full(_fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_leaves_the_previous_output_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics" / "train_baseline.json"
    atomic_write_json(target, {"test_accuracy": 0.97})
    before = target.read_bytes()
    monkeypatch.setattr(io_module.os, "fsync", _disk_full)
    with pytest.raises(OSError) as caught:
        atomic_write_json(target, {"test_accuracy": 0.5})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def _stage_writing(target):
    return lambda: atomic_write_json(target, {"a": 1})


def test_a_stage_on_a_full_disk_says_so_without_a_traceback(tmp_path, monkeypatch, capsys):
    target = tmp_path / "metrics" / "split.json"
    monkeypatch.setattr(io_module.os, "fsync", _disk_full)
    with pytest.raises(SystemExit) as exited:
        run_stage("split", _stage_writing(target))
    assert exited.value.code == USER_ERROR_STATUS
    err = capsys.readouterr().err
    assert f"split: error: cannot write {target}: No space left on device" in err
    assert "free some disk space" in err and "Traceback" not in err
    assert not target.parent.exists() or not any(target.parent.iterdir())


@pytest.mark.parametrize(
    "code, advice",
    [(errno.EACCES, "permission to read and write"), (errno.EROFS, "mounted read-only")],
)
def test_a_read_only_output_folder_is_named(tmp_path, monkeypatch, capsys, code, advice):
    # (the tests run as root, for whom chmod cannot make a folder read-only: the refusal of
    # the file system is simulated where the output's temporary file is created)
    def refuse(*_args, dir=None, **_kwargs):  # noqa: A002 - tempfile's keyword
        raise OSError(code, "refused", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "metrics" / "evaluate.json"
    with pytest.raises(SystemExit) as exited:
        run_stage("evaluate", _stage_writing(target))
    assert exited.value.code == USER_ERROR_STATUS
    err = capsys.readouterr().err
    verb = "write" if code == errno.EROFS else "access"
    assert f"cannot {verb} {target}" in err and advice in err and "Traceback" not in err


def test_an_unrelated_os_error_keeps_its_traceback():
    def broken() -> None:
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError):
        run_stage("split", broken)


def test_ctrl_c_ends_a_stage_with_one_message(capsys):
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exited:
        run_stage("train_baseline", interrupted)
    assert exited.value.code == INTERRUPTED_STATUS
    err = capsys.readouterr().err
    assert "train_baseline: error: interrupted (Ctrl-C)" in err
    assert "continues from its last finished epoch" in err


def _prepared(root, *, classes=("cat", "dog"), shape=(1, 12, 12)):
    paths = ProjectPaths(root)
    paths.prepared.mkdir(parents=True)
    for split in ("train", "val", "test"):
        np.save(paths.prepared / f"{split}_x.npy", np.zeros((4, *shape), dtype=np.uint8))
        np.save(paths.prepared / f"{split}_y.npy", np.zeros(4, dtype=np.int64))
    (paths.prepared / "classes.json").write_text(json.dumps(list(classes)))
    return paths


def _save_model(paths, role, *, classes, channels=1, size=12):
    model = build_model(
        ModelConfig(
            arch="vgg_small",
            num_classes=len(classes),
            in_channels=channels,
            image_size=size,
            mean=[0.5] * channels,
            std=[0.2] * channels,
            width=4,
            class_names=tuple(classes),
        )
    )
    save_checkpoint(paths.model(role), model)


def test_a_model_of_the_data_is_read(tmp_path):
    paths = _prepared(tmp_path)
    _save_model(paths, "baseline", classes=("cat", "dog"))
    assert load_trained(paths, "baseline", "cpu").config.num_classes == 2


@pytest.mark.parametrize(
    "change",
    [
        dict(classes=("cat", "dog", "cow")),
        dict(classes=("dog", "cat")),
        dict(classes=("cat", "dog"), channels=3),
        dict(classes=("cat", "dog"), size=16),
    ],
)
def test_a_foreign_upstream_model_is_refused_by_name(tmp_path, change):
    paths = _prepared(tmp_path)
    _save_model(paths, "teacher", **change)
    with pytest.raises(ForeignModel) as caught:
        load_trained(paths, "teacher", "cpu")
    message = str(caught.value)
    assert str(paths.model("teacher")) in message and "data/prepared holds 2 classes" in message
    assert "dvc repro train_teacher" in message


def test_a_truncated_array_names_the_file_and_the_fix(tmp_path):
    paths = _prepared(tmp_path)
    path = paths.prepared / "val_x.npy"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PreparedDataError) as caught:
        load_split_uint8(paths.prepared, "val")
    assert str(path) in str(caught.value) and "dvc checkout data/prepared" in str(caught.value)
