"""Feature squeezing and defensive distillation: known answers, calibration, masking flag."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import median_filter as scipy_median
from torch import nn

from modelrobustness.attacks import bpda_pgd
from modelrobustness.defenses import (
    SqueezeDetector,
    bit_depth,
    median_filter,
    parse_squeezer,
    resample,
    soft_cross_entropy,
    soft_labels,
    temperature_cross_entropy,
)
from modelrobustness.defenses.squeezing import straight_through_score, threshold_at_fpr
from modelrobustness.evaluation.autoattack import AutoAttackConfig, evaluate_autoattack
from modelrobustness.evaluation.checks import CHECKS, combine
from modelrobustness.evaluation.detection import select_squeezers
from modelrobustness.evaluation.pgd import evaluate_pgd
from modelrobustness.training.fit import fit

from helpers.configs import fit_config, pgd_config
from helpers.toy_data import toy_images, toy_model

# --- squeezers ----------------------------------------------------------------------------


def test_bit_depth_known_answer_and_round_half_even():
    x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]).view(1, 1, 1, 5)
    # x * 3 = 0, 0.75, 1.5, 2.25, 3 -> 0, 1, 2 (half to even), 2, 3
    expected = torch.tensor([0, 1, 2, 2, 3]) / 3
    assert torch.allclose(bit_depth(x, bits=2).flatten(), expected)
    rng = np.random.default_rng(0)
    values = rng.random((2, 3, 8, 8)).astype(np.float32)
    for bits in (1, 3, 5):
        ours = bit_depth(torch.from_numpy(values), bits=bits).numpy()
        levels = 2**bits - 1
        assert np.allclose(ours, np.rint(values * levels) / levels)


def test_median_known_answer_and_scipy_agreement():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    assert median_filter(x, size=2).view(2, 2).tolist() == [[1.0, 2.0], [3.0, 3.0]]
    rng = np.random.default_rng(1)
    images = rng.integers(0, 10, (2, 3, 9, 7)).astype(np.float32)
    for size in (2, 3, 4):
        ours = median_filter(torch.from_numpy(images), size=size).numpy()
        reference = np.stack(
            [
                np.stack([scipy_median(c, size=size, mode="nearest") for c in image])
                for image in images
            ]
        )
        assert np.array_equal(ours, reference), size


def test_resample_keeps_shape_and_constants():
    x = torch.rand(2, 3, 12, 10)
    assert resample(x, factor=2).shape == x.shape
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(resample(flat, factor=2), flat)
    assert not torch.allclose(resample(x, factor=2), x)


def test_parse_squeezer():
    assert torch.equal(
        parse_squeezer("bit_depth:1")(torch.tensor([0.4, 0.6])), torch.tensor([0.0, 1.0])
    )
    for bad in (
        "bitdepth:1",
        "median",
        "median:x",
        "eval:1",
        "bit_depth:0",
        "bit_depth:9",
        "median:0",
        "resample:1",
        3,
        None,
    ):
        # every spec is checked when read, so a bad one fails before anything runs
        with pytest.raises(
            ValueError,
            match=r"expected one of bit_depth:<1\.\.8>, "
            r"median:<1\.\.64>, resample:<2\.\.64>",
        ):
            parse_squeezer(bad)


# --- detector -----------------------------------------------------------------------------


def test_detector_scores_in_range_and_calibration(toy_classifier):
    model, x, _ = toy_classifier
    detector = SqueezeDetector(model, ["bit_depth:1", "median:2", "resample:2"])
    per = detector.scores_per_squeezer(x)
    assert per.shape == (len(x), 3)
    assert float(per.min()) >= 0.0 and float(per.max()) <= 2.0
    assert torch.equal(detector.score(x), per.amax(1))
    with pytest.raises(ValueError, match="threshold"):
        detector.predict(x)
    for fpr in (0.0, 0.05, 0.2):
        detector.fit_threshold(x, fpr=fpr)
        assert float(detector.predict(x).double().mean()) <= fpr  # on its calibration set
    loose = SqueezeDetector(model, ["median:3"], threshold=2.0)
    assert not bool(loose.predict(x).any())


def test_threshold_at_fpr_and_selection():
    scores = np.arange(100) / 100.0
    assert threshold_at_fpr(scores, 0.05) == 0.94  # 0.95 .. 0.99 are above: 5%
    clean = torch.tensor([[0.1, 0.0], [0.2, 0.1], [0.3, 0.2], [0.4, 0.1]])
    adversarial = torch.tensor([[0.9, 0.1], [0.35, 0.9], [0.5, 0.05]])
    chosen, table = select_squeezers(clean, adversarial, ["a", "b"], fpr=0.0)
    assert table == {"a": 2 / 3, "b": 1 / 3, "a+b": 1.0}
    assert chosen == ["a", "b"]


# --- distillation -------------------------------------------------------------------------


def test_distillation_losses_and_soft_labels(toy_classifier):
    model, x, y = toy_classifier
    logits = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    assert torch.allclose(
        temperature_cross_entropy(logits, labels, temperature=5.0, rescale=False),
        F.cross_entropy(logits / 5, labels),
    )
    assert torch.allclose(
        temperature_cross_entropy(logits, labels, temperature=5.0),
        25 * F.cross_entropy(logits / 5, labels),
    )
    soft = soft_labels(model, x, temperature=20.0)
    assert torch.allclose(soft.sum(1), torch.ones(len(x)), atol=1e-6)
    assert float(soft.max()) < 1.0  # softened
    one_hot = F.one_hot(labels, 4).float()
    assert torch.allclose(
        soft_cross_entropy(logits, one_hot, temperature=5.0, rescale=False),
        F.cross_entropy(logits / 5, labels),
    )
    with pytest.raises(ValueError, match="temperature"):
        soft_labels(model, x, temperature=0)


def test_student_agrees_with_teacher():
    x, y = toy_images(512, seed=10)
    vx, vy = toy_images(64, seed=11)
    hx, _ = toy_images(128, seed=12)
    config_fit = fit_config(epochs=6, batch_size=32, lr=0.02)
    teacher = toy_model(num_classes=4, seed=0)
    fit(
        teacher,
        x,
        y,
        vx,
        vy,
        config=config_fit,
        seed=0,
        loss_fn=lambda z, t: temperature_cross_entropy(z, t, temperature=10.0),
    )
    targets = soft_labels(teacher, x, temperature=10.0)
    student = toy_model(num_classes=4, seed=1)
    fit(
        student,
        x,
        targets,
        vx,
        vy,
        config=config_fit,
        seed=1,
        loss_fn=lambda z, t: soft_cross_entropy(z, t, temperature=10.0),
    )
    with torch.no_grad():
        agree = (teacher(hx).argmax(1) == student(hx).argmax(1)).float().mean()
    assert float(agree) > 0.9


# --- gradient masking ---------------------------------------------------------------------


class _Scaled(nn.Module):
    """Logits multiplied by a large factor: a softmax saturated like a distilled student's."""

    def __init__(self, inner: nn.Module, scale: float) -> None:
        super().__init__()
        self.inner, self.scale = inner, scale

    def forward(self, x):
        return self.inner(x) * self.scale


def _combined(model, x, y):
    """PGD (ce, margin) and the AutoAttack ensemble at eps 0.05, combined."""
    config = pgd_config(eps=0.05, eps_list=(0.05,), steps=10, step_size=0.01)
    pgd_out = evaluate_pgd(model, x, y, config=config, batch_size=100, seed=0)
    aa_config = AutoAttackConfig(
        eps=None, version="fast", steps=10, n_target_classes=3, square_queries=200
    )
    aa_out = evaluate_autoattack(
        model, x, y, config=aa_config, eps=0.05, norm="linf", batch_size=100, seed=0
    )
    return combine(
        pgd=pgd_out.artifact(),
        pgd_record=pgd_out.metrics,
        autoattack=aa_out.artifact(),
        autoattack_record=aa_out.metrics,
    )


def test_masking_checks_fire_on_saturated_model_only(toy_classifier):
    model, x, y = toy_classifier
    x, y = x[:100], y[:100]
    normal, saturated = _combined(model, x, y), _combined(_Scaled(model, 1e4), x, y)
    assert set(normal["checks"]) == set(CHECKS)
    assert not normal["gradient_masking"], normal["checks"]
    assert saturated["gradient_masking"]
    # the saturated softmax zeroes the CE gradient: the naive attacks fall behind
    assert saturated["checks"]["zero_gradients"]["flag"]
    assert saturated["checks"]["ce_leaves_more"]["flag"]
    assert saturated["checks"]["ce_leaves_more"]["gap"] >= 0.05
    # the scale changes no prediction, so the worst case over every attack barely moves
    assert abs(saturated["worst_case"] - normal["worst_case"]) <= 0.05


def test_ddn_deterministic_on_saturated_model(toy_classifier):
    """Zero gradients (saturated softmax) make DDN draw random directions: from its
    generator, so a seed fixes the result."""
    from modelrobustness.attacks import ddn

    model, x, y = toy_classifier
    saturated = _Scaled(model, 1e4).eval()
    runs = [
        ddn(saturated, x[:40], y[:40], steps=20, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])


# --- adaptive attack on the detector --------------------------------------------------------


def test_bpda_attack_evades_the_detector_better(toy_classifier):
    model, x, y = toy_classifier
    detector = SqueezeDetector(model, ["bit_depth:1"])  # the squeezer that works on the toy
    threshold = detector.fit_threshold(x, fpr=0.05)
    squeezers = detector.squeezers
    eps, steps, step = 0.1, 20, 0.01  # plain PGD: 53% fooled and unseen; adaptive: 70%
    from modelrobustness.attacks import pgd

    plain = pgd(
        model,
        x,
        y,
        eps=eps,
        steps=steps,
        step_size=step,
        loss="margin",
        generator=torch.Generator().manual_seed(0),
    )
    score = functools.partial(straight_through_score, model, squeezers)
    adaptive = bpda_pgd(
        model,
        x,
        y,
        score=score,
        eps=eps,
        steps=steps,
        step_size=step,
        threshold=threshold,
        lam=2.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert float((adaptive - x).abs().max()) <= eps + 1e-6
    assert 0.0 <= float(adaptive.min()) and float(adaptive.max()) <= 1.0

    def undetected_success(adv):
        with torch.no_grad():
            fooled = model(adv).argmax(1) != y
        return float((fooled & ~detector.predict(adv)).double().mean())

    assert undetected_success(adaptive) > undetected_success(plain) + 0.1
