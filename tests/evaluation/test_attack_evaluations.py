"""The attack evaluations behind the stages: metrics agree with the per-sample results."""

from __future__ import annotations

import io

import pytest
import torch

from modelrobustness.evaluation.ddn import evaluate_ddn
from modelrobustness.evaluation.harness import accuracy_under_l2_budget, perturbation_norms
from modelrobustness.evaluation.pgd import PGDConfig, evaluate_pgd
from modelrobustness.utils.io import tensors_to_bytes

from helpers.configs import ddn_config, pgd_config

SETTINGS = pgd_config(eps=0.05, eps_list=(0.01, 0.03, 0.05, 0.1), steps=10, step_size=0.01)


def _predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def test_evaluate_pgd_metrics_match_samples(toy_classifier):
    model, x, y = toy_classifier
    out = evaluate_pgd(model, x, y, config=SETTINGS, batch_size=64, seed=0)
    m = out.metrics
    by_attack = m["robust_accuracy_by_attack"]
    assert list(by_attack) == m["attacks"] == ["pgd_ce", "pgd_margin"]
    # cumulative: each loss attacks what the earlier left, the last is the worst case
    assert by_attack["pgd_margin"] <= by_attack["pgd_ce"]
    assert m["robust_accuracy"] == by_attack["pgd_margin"]
    assert 0 < m["robust_accuracy"] < m["clean_accuracy"]
    assert sum(m["fooled_by"].values()) == int(out.success.sum())
    # the first loss's number is its own: the same as PGD-CE alone
    ce_alone = evaluate_pgd(
        model,
        x,
        y,
        config=pgd_config(eps=0.05, eps_list=(0.05,), steps=10, step_size=0.01, losses=("ce",)),
        batch_size=64,
        seed=0,
    ).metrics
    assert ce_alone["robust_accuracy"] == by_attack["pgd_ce"]
    # the saved adversarial set agrees with the flags and the metrics
    pred = _predict(model, out.x_adv)
    assert torch.equal(pred, out.adv_predictions)
    assert torch.equal(out.success, out.clean_correct & (pred != y))
    assert m["robust_accuracy"] == pytest.approx(
        float((out.clean_correct & ~out.success).double().mean())
    )
    assert torch.equal(out.broken_by >= 0, out.success)
    clean_acc = float(out.clean_correct.double().mean())
    assert m["robust_accuracy"] == pytest.approx(clean_acc * (1 - m["attack_success_rate"]))
    assert float(out.linf.max()) <= SETTINGS.eps + 1e-5
    assert m["max_linf"] == pytest.approx(float(out.linf[out.success].max()))
    # the curve is monotone and agrees with the headline attack at eps
    curve = [row["robust_accuracy"] for row in out.curve]
    assert curve == sorted(curve, reverse=True)
    assert m["curve"]["0.05"] <= m["robust_accuracy"] + 1e-12
    # deterministic: same seed, same everything but timing
    again = evaluate_pgd(model, x, y, config=SETTINGS, batch_size=64, seed=0)
    timing = {"seconds", "attack_seconds", "images_per_second"}
    assert {k: v for k, v in again.metrics.items() if k not in timing} == {
        k: v for k, v in m.items() if k not in timing
    }
    assert tensors_to_bytes(again.artifact()) == tensors_to_bytes(out.artifact())
    loaded = torch.load(io.BytesIO(tensors_to_bytes(out.artifact())), weights_only=True)
    assert set(loaded) >= {"x_adv", "labels", "indices", "success", "linf", "l2"}


def test_evaluate_ddn_metrics_match_samples(toy_classifier):
    model, x, y = toy_classifier
    out = evaluate_ddn(model, x, y, config=ddn_config(steps=30), batch_size=64, seed=0)
    m = out.metrics
    assert m["attack_success_rate"] == 1.0
    found = out.l2[out.success]
    assert m["median_l2"] == pytest.approx(float(found.median()), rel=0.02)
    assert m["mean_l2"] == pytest.approx(float(found.double().mean()))
    accuracies = [row["accuracy"] for row in out.curve]
    assert accuracies[0] == pytest.approx(m["clean_accuracy"])  # budget 0
    assert accuracies[-1] == pytest.approx(m["robust_accuracy"])  # largest budget
    assert accuracies == sorted(accuracies, reverse=True)
    # the exact step curve: one point at 0 and one at each distinct minimal norm found
    assert [row["l2"] for row in out.curve] == [0.0, *sorted(set(found.tolist()))]
    assert len(set(accuracies)) == len(accuracies)  # every point is a step down


def test_accuracy_under_l2_budget_known_values():
    correct = torch.tensor([True, True, True, False])
    fooled = torch.tensor([True, True, False, False])
    l2 = torch.tensor([0.5, 1.5, 0.0, 0.0])
    rows = accuracy_under_l2_budget(correct, fooled, l2, [0.0, 1.0, 2.0])
    assert [r["accuracy"] for r in rows] == [0.75, 0.5, 0.25]


def test_perturbation_norms():
    x = torch.zeros(2, 1, 2, 2)
    adv = x.clone()
    adv[0, 0, 0, 0], adv[1, 0, :, :] = 0.3, 0.1
    linf, l2 = perturbation_norms(x, adv)
    assert linf.tolist() == pytest.approx([0.3, 0.1])
    assert l2.tolist() == pytest.approx([0.3, 0.2])


def test_pgd_config_errors_name_the_field():
    with pytest.raises(ValueError, match="^norm is 'l1'; expected one of 'linf', 'l2'$"):
        pgd_config(norm="l1")
    with pytest.raises(ValueError, match=r"^losses\[0\] is 'hinge'"):
        pgd_config(losses=("hinge",))
    with pytest.raises(ValueError, match=r"^losses\[1\] is 'ce'; expected a value not already"):
        pgd_config(losses=("ce", "ce"))
    with pytest.raises(ValueError, match="eps_list"):
        pgd_config(eps_list=())
    # an L-inf budget above 1 is the whole [0, 1] box; an L2 one is not
    with pytest.raises(
        ValueError,
        match=r"^eps is 2\.0; expected a number in \(0, 1\] for "
        "the linf norm",
    ):
        pgd_config(eps=2.0)
    with pytest.raises(ValueError, match=r"^eps_list\[1\] is 1\.5"):
        pgd_config(eps_list=(0.5, 1.5))
    assert pgd_config(norm="l2", eps=2.0, eps_list=(1.0, 2.0)).eps == 2.0
    with pytest.raises(TypeError):  # no defaults: every field is given
        PGDConfig(eps=0.1)


def test_no_clean_correct_sample(toy_classifier):
    model, x, y = toy_classifier
    wrong = (_predict(model, x[:6]) + 1) % 4  # labels the model never predicts
    pgd_out = evaluate_pgd(model, x[:6], wrong, config=SETTINGS, batch_size=4, seed=0)
    ddn_out = evaluate_ddn(model, x[:6], wrong, config=ddn_config(steps=5), batch_size=4, seed=0)
    for out in (pgd_out, ddn_out):
        assert out.metrics["clean_accuracy"] == 0.0
        assert out.metrics["attack_success_rate"] == 0.0
        assert not bool(out.success.any())


def test_evaluate_pgd_records_the_order_the_losses_ran(toy_classifier):
    """The records' JSON sorts keys: ``attacks`` keeps the order, margin first here."""
    model, x, y = toy_classifier
    m = evaluate_pgd(
        model,
        x,
        y,
        config=pgd_config(
            eps=0.05, eps_list=(0.05,), steps=10, step_size=0.01, losses=("margin", "ce")
        ),
        batch_size=64,
        seed=0,
    ).metrics
    assert m["attacks"] == ["pgd_margin", "pgd_ce"]
    by_attack = m["robust_accuracy_by_attack"]
    assert by_attack["pgd_ce"] <= by_attack["pgd_margin"]  # ce ran on margin's survivors
    assert m["robust_accuracy"] == by_attack["pgd_ce"]


def _per_sample(outcome):
    return {
        "success": outcome.success,
        "adv_predictions": outcome.adv_predictions,
        "clean_predictions": outcome.clean_predictions,
        "broken_by": outcome.broken_by,
    }


@pytest.mark.parametrize("attack", ["pgd", "autoattack", "ddn"])
def test_a_samples_attack_depends_on_neither_its_batch_nor_the_other_samples(
    toy_classifier, attack
):
    """Each sample draws from its own random streams (seed, stream, its index), so the
    batch size and which other samples are attacked change no sample's result: what lets
    the attack stages share their batches among processes (tests/pipeline/
    test_distributed.py checks 1 and 2 processes byte for byte)."""
    from modelrobustness.evaluation.autoattack import AutoAttackConfig, evaluate_autoattack

    model, x, y = toy_classifier
    x, y = x[:40], y[:40]
    fast = AutoAttackConfig(
        eps=None, version="fast", steps=5, n_target_classes=2, square_queries=30
    )
    run = {
        "pgd": lambda xs, ys, b: evaluate_pgd(model, xs, ys, config=SETTINGS, batch_size=b, seed=3),
        "autoattack": lambda xs, ys, b: evaluate_autoattack(
            model, xs, ys, config=fast, eps=0.05, norm="linf", batch_size=b, seed=3
        ),
        "ddn": lambda xs, ys, b: evaluate_ddn(
            model, xs, ys, config=ddn_config(steps=15), batch_size=b, seed=3
        ),
    }[attack]
    whole, pieces, first = run(x, y, 64), run(x, y, 7), run(x[:25], y[:25], 64)
    if attack != "ddn":  # some samples fooled, some not (DDN's minimal norms fool all)
        assert bool(whole.success.any()) and not bool(whole.success.all())
    for name, value in _per_sample(whole).items():
        if value is None:
            continue
        assert torch.equal(value, _per_sample(pieces)[name]), name
        assert torch.equal(value[:25], _per_sample(first)[name]), name
    assert torch.allclose(whole.x_adv, pieces.x_adv, atol=1e-5)
    assert torch.allclose(whole.x_adv[:25], first.x_adv, atol=1e-5)
    assert torch.allclose(whole.l2[:25], first.l2, atol=1e-5)
