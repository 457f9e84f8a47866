"""Per-epoch checkpoints of the fit loop: an interrupted fit resumed from its checkpoint ends
exactly as an uninterrupted one; checkpoints of other runs or broken files are ignored and
said so; a NaN loss stops the fit at once."""

from __future__ import annotations

import math

import pytest
import torch

from modelrobustness.training.fit import NonFiniteLoss, fit
from modelrobustness.training.resume import Resumption, load_checkpoint

from helpers.configs import fit_config
from helpers.toy_data import two_squares, two_squares_model


class Interrupted(Exception):
    pass


def _fit(
    resume: Resumption | None, *, stop_at: int | None = None, epochs: int = 4, lr: float = 0.05
):
    """Fit the toy model; ``stop_at``: raise in that epoch's callback (before its
    checkpoint), as a kill during the next epoch would leave the files."""
    x, y = two_squares(96, seed=0)
    vx, vy = two_squares(32, seed=5)
    model, logged = two_squares_model(), []

    def on_epoch_end(epoch: int, stats: dict[str, float]) -> None:
        if epoch == stop_at:
            raise Interrupted
        logged.append((epoch, stats))

    torch.manual_seed(123)  # the global RNG state the checkpoint must carry over
    result = fit(
        model,
        x,
        y,
        vx,
        vy,
        config=fit_config(epochs=epochs, batch_size=16, lr=lr, crop_padding=1),
        seed=7,
        on_epoch_end=on_epoch_end,
        resume=resume,
    )
    return model, result, logged


def _resumption(tmp_path, key: str = "run-a", messages: list[str] | None = None):
    sink = messages.append if messages is not None else (lambda _: None)
    return Resumption(path=tmp_path / "ckpt" / "train_toy.pt", key=key, notify=sink)


def test_an_interrupted_fit_resumed_ends_as_an_uninterrupted_one(tmp_path):
    reference, ref_result, ref_logged = _fit(None)
    messages: list[str] = []
    resume = _resumption(tmp_path, messages=messages)
    with pytest.raises(Interrupted):
        _fit(resume, stop_at=3)
    saved = load_checkpoint(resume)
    assert saved is not None and saved["epoch"] == 2
    model, result, logged = _fit(resume)
    assert any("resuming" in m and "after epoch 2" in m for m in messages)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    assert result.history == ref_result.history
    assert (result.best_epoch, result.best_val_accuracy) == (
        ref_result.best_epoch,
        ref_result.best_val_accuracy,
    )
    # the callback saw every epoch once, in order, the replayed ones included
    assert logged == ref_logged and [e for e, _ in logged] == [1, 2, 3, 4]


def test_a_checkpoint_of_another_run_is_ignored_and_said_so(tmp_path):
    with pytest.raises(Interrupted):
        _fit(_resumption(tmp_path, key="run-a"), stop_at=3)
    messages: list[str] = []
    reference, _, _ = _fit(None)
    model, _, logged = _fit(_resumption(tmp_path, key="run-b", messages=messages))
    assert any("ignoring checkpoint" in m and "other parameters" in m for m in messages)
    assert [e for e, _ in logged] == [1, 2, 3, 4]
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name


def test_a_truncated_checkpoint_is_ignored_and_said_so(tmp_path):
    resume = _resumption(tmp_path)
    with pytest.raises(Interrupted):
        _fit(resume, stop_at=3)
    data = resume.path.read_bytes()
    resume.path.write_bytes(data[: len(data) // 2])
    messages: list[str] = []
    _, _, logged = _fit(_resumption(tmp_path, messages=messages))
    assert any("ignoring checkpoint" in m and "unreadable" in m for m in messages)
    assert [e for e, _ in logged] == [1, 2, 3, 4]


def test_each_epoch_writes_the_checkpoint_atomically(tmp_path):
    resume = _resumption(tmp_path)
    _fit(resume, epochs=2)
    assert load_checkpoint(resume)["epoch"] == 2
    # only the checkpoint itself: no temporary file left beside it
    assert [p.name for p in resume.path.parent.iterdir()] == [resume.path.name]


def test_a_nan_loss_stops_the_fit_in_its_first_epoch():
    with pytest.raises(NonFiniteLoss) as caught:
        _fit(None, lr=1e30)
    assert caught.value.epoch == 1 and not math.isfinite(caught.value.value)
    assert "epoch 1" in str(caught.value)
