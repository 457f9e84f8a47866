"""The fit loop: it learns, restores its best epoch, is deterministic; augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modelrobustness.training.augment import augment_batch
from modelrobustness.training.fit import FitConfig, fit

from helpers.configs import fit_config
from helpers.toy_data import two_squares, two_squares_model


def _toy_data(n=96, seed=0):
    return two_squares(n, seed=seed)


def _model():
    return two_squares_model()


def _train(epochs=4, seed=1):
    x, y = _toy_data()
    vx, vy = _toy_data(32, seed=5)
    model = _model()
    config = fit_config(epochs=epochs, batch_size=16, lr=0.05, crop_padding=1)
    history = []
    result = fit(
        model,
        x,
        y,
        vx,
        vy,
        config=config,
        seed=seed,
        on_epoch_end=lambda epoch, stats: history.append(stats),
    )
    return model, result, history


def test_training_lowers_the_loss():
    x, y = _toy_data()
    model = _model().eval()
    with torch.no_grad():
        before = float(F.cross_entropy(model(x), y))
    model, result, history = _train()
    with torch.no_grad():
        after = float(F.cross_entropy(model(x), y))
    assert after < 0.7 * before
    assert len(history) == 4 and result.best_val_accuracy >= 0.9
    assert not model.training


def test_best_epoch_restored():
    model, result, _ = _train()
    vx, vy = _toy_data(32, seed=5)
    with torch.no_grad():
        acc = float((model(vx).argmax(1) == vy).float().mean())
    assert acc == pytest.approx(result.best_val_accuracy)
    assert result.history[result.best_epoch - 1]["val_accuracy"] == result.best_val_accuracy


def test_fit_is_deterministic():
    a, ra, _ = _train(epochs=2)
    b, rb, _ = _train(epochs=2)
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name
    assert [h["train_loss"] for h in ra.history] == [h["train_loss"] for h in rb.history]


def test_fit_trains_channels_last_on_cpu_and_returns_the_usual_layout():
    seen = []
    model = _model()
    # the last convolution: with one input channel both layouts of the first coincide
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    x, y = _toy_data(32)
    fit(
        model,
        x,
        y,
        x,
        y,
        config=fit_config(epochs=1, batch_size=16),
        seed=0,
        on_epoch_end=lambda epoch, stats: seen.append(
            conv.weight.is_contiguous(memory_format=torch.channels_last)
            and not conv.weight.is_contiguous()
        ),
    )
    assert seen == [True]  # trained in NHWC (oneDNN's fast layout on CPU)
    # the kept weights come back in the default layout, so saved models do not depend on it
    assert all(p.is_contiguous() for p in model.state_dict().values())


def test_soft_targets_accepted():
    x, y = _toy_data()
    soft = F.one_hot(y, 2).float() * 0.9 + 0.05
    model = _model()
    result = fit(
        model,
        x,
        soft,
        x,
        y,
        config=fit_config(epochs=2, batch_size=32, lr=0.05),
        seed=0,
        loss_fn=lambda logits, t: -(t * logits.log_softmax(1)).sum(1).mean(),
    )
    assert result.history[-1]["train_accuracy"] > 0.5


def test_augment_batch_per_sample():
    x = torch.rand(64, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = augment_batch(x, crop_padding=2, flip=True, generator=g)
    assert out.shape == x.shape
    same = [(out[i] == x[i]).all().item() for i in range(64)]
    assert 0 < sum(same) < 64  # some untouched (zero shift, no flip), most changed
    g = torch.Generator().manual_seed(0)
    assert torch.equal(out, augment_batch(x, crop_padding=2, flip=True, generator=g))
    assert torch.equal(augment_batch(x, crop_padding=0, flip=False, generator=g), x)


def test_fit_config_errors_name_the_field():
    with pytest.raises(ValueError, match="^optimizer is 'lbfgs'; expected one of 'sgd'"):
        fit_config(optimizer="lbfgs")
    with pytest.raises(ValueError, match="^epochs is 0; expected an integer >= 1$"):
        fit_config(epochs=0)
    with pytest.raises(ValueError, match="^flip is 'no'; expected true or false$"):
        fit_config(flip="no")
    with pytest.raises(TypeError):  # no defaults: every field is given
        FitConfig(epochs=3)


def _prepared(folder, n=48, size=8):
    """A prepared data folder (the split stage's format, without the index) of two classes:
    bright and dark squares."""
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        y = np.arange(n) % 2
        x = rng.integers(0, 100, (n, 1, size, size)) + 150 * y[:, None, None, None]
        np.save(folder / f"{split}_x.npy", x.astype(np.uint8))
        np.save(folder / f"{split}_y.npy", y.astype(np.int64))
    (folder / "classes.json").write_text(json.dumps(["dark", "bright"]))
    return folder


def test_fine_tuning_starts_from_the_given_classifier_and_leaves_it_untouched(tmp_path):
    from modelrobustness.models.classifier import ArchitectureConfig
    from modelrobustness.training.train_classifier import train_classifier

    prepared = _prepared(tmp_path)
    architecture = ArchitectureConfig(arch="vgg_small", width=4, pretrained="none")
    torch.manual_seed(0)
    first = train_classifier(
        prepared,
        architecture=architecture,
        seed=0,
        fit_config=fit_config(epochs=2, batch_size=16, lr=0.05),
    ).model
    before = {k: v.clone() for k, v in first.state_dict().items()}
    # a vanishing learning rate: the fine-tuned weights stay where they started
    torch.manual_seed(1)  # would change fresh weights, not a fine-tuned start
    tuned = train_classifier(
        prepared,
        architecture=architecture,
        seed=0,
        initial=first,
        fit_config=fit_config(epochs=1, batch_size=16, lr=1e-9, weight_decay=0.0),
    ).model
    assert tuned is not first
    for key, value in first.state_dict().items():
        assert torch.equal(value, before[key]), key  # the start is a copy
        if value.is_floating_point() and "running" not in key:
            assert torch.allclose(tuned.state_dict()[key], value, atol=1e-6), key
    torch.manual_seed(1)
    fresh = train_classifier(
        prepared,
        architecture=architecture,
        seed=0,
        fit_config=fit_config(epochs=1, batch_size=16, lr=1e-9, weight_decay=0.0),
    ).model
    weight = next(k for k in before if k.endswith("weight"))
    assert not torch.allclose(fresh.state_dict()[weight], before[weight], atol=1e-3)
    with pytest.raises(ValueError, match="cannot fine-tune"):
        train_classifier(
            prepared,
            architecture=ArchitectureConfig(arch="vgg_small", width=8, pretrained="none"),
            seed=0,
            initial=first,
            fit_config=fit_config(epochs=1, batch_size=16, lr=0.05),
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_equal_sklearns(seed: int):
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    from modelrobustness.training.train_classifier import classification_metrics

    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(6)]
    y_true = rng.integers(0, 5, 200)  # class c5 never occurs: zero support
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 6, 200))
    y_pred[y_pred == 3] = 2  # c3 is never predicted: zero precision's denominator
    scores = classification_metrics(y_true, y_pred, names)
    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    assert scores["accuracy"] == accuracy_score(y_true, y_pred)
    assert scores["macro_f1"] == f1_score(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    for i, name in enumerate(names):
        row = scores["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == (
            precision[i],
            recall[i],
            f1[i],
            support[i],
        ), name
