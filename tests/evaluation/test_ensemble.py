"""The ensemble harness (per-sample worst case) and the AutoAttack evaluation on it."""

from __future__ import annotations

import pytest
import torch

from modelrobustness.evaluation.autoattack import (
    SQUARE_BATCH_FACTOR,
    VERSIONS,
    AutoAttackConfig,
    ensemble_members,
    evaluate_autoattack,
)
from modelrobustness.evaluation.ensemble import NOT_BROKEN, EnsembleMember, run_ensemble


def _swap_attack(x_other: torch.Tensor, seen: list[int], *, every: int):
    """Replace every ``every``-th image of a batch by an image of another class (fooling
    the model), record the batch sizes seen."""

    def attack(xb, yb):
        seen.append(len(xb))
        out = xb.clone()
        for i in range(0, len(xb), every):
            out[i] = x_other[(int(yb[i]) + 1) % 4]
        return out

    return attack


def _prototypes(model, x, y):
    """One correctly classified image per class."""
    with torch.no_grad():
        pred = model(x).argmax(1)
    return torch.stack([x[(y == c) & (pred == c)][0] for c in range(4)])


def test_members_attack_only_survivors_and_counts_add_up(toy_classifier):
    model, x, y = toy_classifier
    protos = _prototypes(model, x, y)
    seen_a, seen_b, seen_c = [], [], []
    members = [
        EnsembleMember("identity", lambda xb, yb: xb.clone()),
        EnsembleMember("half", _swap_attack(protos, seen_a, every=2)),
        EnsembleMember("half", _swap_attack(protos, seen_b, every=2)),
        EnsembleMember("all", _swap_attack(protos, seen_c, every=1)),
    ]
    result = run_ensemble(model, x, y, members, batch_size=1000)
    clean = int(result.clean_correct.sum())
    # each member saw only what the earlier ones left robust
    assert sum(seen_a) == clean
    assert sum(seen_b) < sum(seen_a)  # the second "half" ran on the first one's survivors
    assert sum(seen_c) == int(result.clean_correct.sum()) - result.fooled_by()["half"]
    assert result.names == ["identity", "half", "all"]
    fooled = result.fooled_by()
    assert fooled["identity"] == 0
    assert sum(fooled.values()) == clean
    assert int(result.robust.sum()) == 0
    after = result.robust_accuracy_after()
    assert list(after.values()) == sorted(after.values(), reverse=True)
    assert after["identity"] == pytest.approx(clean / len(x))
    assert after["all"] == 0.0
    # the saved images are the fooling ones, and not-correct samples are never broken
    with torch.no_grad():
        pred = model(result.x_adv).argmax(1)
    broken = result.broken_by != NOT_BROKEN
    assert torch.equal(broken, result.clean_correct & ~result.robust)
    assert bool((pred[broken] != y[broken]).all())


def test_ensemble_checks_the_model_not_the_attack(toy_classifier):
    """An attack that returns the clean images fools nothing, whatever it claims."""
    model, x, y = toy_classifier
    result = run_ensemble(model, x, y, [EnsembleMember("noop", lambda xb, yb: xb)], batch_size=64)
    assert torch.equal(result.robust, result.clean_correct)
    assert result.fooled_by() == {"noop": 0}


def test_batches_are_balanced_and_a_member_may_take_larger_ones(toy_classifier):
    """Survivors go in the fewest batches, of sizes differing by at most one (230 at
    batch 100: 77, 77, 76, not 100, 100, 30); a member with ``batch_factor`` 4 takes four
    times as many at once."""
    model, x, y = toy_classifier
    seen_gradient, seen_free = [], []

    def recording(seen):
        def attack(xb, yb):
            seen.append(len(xb))
            return xb.clone()

        return attack

    result = run_ensemble(
        model,
        x,
        y,
        [
            EnsembleMember("gradient", recording(seen_gradient)),
            EnsembleMember("free", recording(seen_free), gradient_free=True, batch_factor=4),
        ],
        batch_size=45,
    )
    survivors = int(result.clean_correct.sum())
    count = -(-survivors // 45)
    assert count >= 4 and survivors % 45  # a ragged split to balance
    assert len(seen_gradient) == count and sum(seen_gradient) == survivors
    assert max(seen_gradient) - min(seen_gradient) <= 1 and max(seen_gradient) <= 45
    free_count = -(-survivors // 180)
    assert len(seen_free) == free_count and sum(seen_free) == survivors
    assert max(seen_free) - min(seen_free) <= 1 and max(seen_free) <= 180


FAST = AutoAttackConfig(eps=None, version="fast", steps=10, n_target_classes=3, square_queries=100)


def test_autoattack_members_follow_the_version():
    standard = AutoAttackConfig(
        eps=None, version="standard", steps=None, n_target_classes=None, square_queries=None
    )
    assert {k: standard.setting(k) for k in VERSIONS["standard"]} == {
        "steps": 100,
        "n_target_classes": 9,
        "square_queries": 5000,
    }
    members = ensemble_members(
        torch.nn.Identity(),
        config=standard,
        eps=0.1,
        norm="linf",
        classes=10,
    )
    assert [m.name for m in members] == ["apgd_ce", *["apgd_t"] * 9, "square"]
    assert [m.gradient_free for m in members] == [False] * 10 + [True]
    assert [m.batch_factor for m in members] == [1] * 10 + [SQUARE_BATCH_FACTOR]
    assert [m.attack.keywords.get("target_rank") for m in members[1:-1]] == list(range(2, 11))
    # fewer classes than targets: every other class once; 3 classes: no targeted DLR
    few = ensemble_members(
        torch.nn.Identity(),
        config=standard,
        eps=0.1,
        norm="linf",
        classes=4,
    )
    assert [m.name for m in few] == ["apgd_ce", "apgd_t", "apgd_t", "apgd_t", "square"]
    three = ensemble_members(
        torch.nn.Identity(),
        config=FAST,
        eps=0.1,
        norm="linf",
        classes=3,
    )
    assert [m.name for m in three] == ["apgd_ce", "square"]


def test_evaluate_autoattack_metrics_match_samples(toy_classifier):
    model, x, y = toy_classifier
    out = evaluate_autoattack(
        model, x, y, config=FAST, eps=0.05, norm="linf", batch_size=64, seed=0
    )
    m = out.metrics
    assert m["attacks"] == ["apgd_ce", "apgd_t", "square"]
    with torch.no_grad():
        pred = model(out.x_adv).argmax(1)
    assert torch.equal(out.success, out.clean_correct & (pred != y))
    assert m["robust_accuracy"] == pytest.approx(
        float((out.clean_correct & ~out.success).double().mean())
    )
    assert m["robust_accuracy_by_attack"]["square"] == m["robust_accuracy"]
    assert sum(m["fooled_by"].values()) == int(out.success.sum())
    assert float(out.linf.max()) <= 0.05 + 1e-5
    assert {"zero_gradient_share", "large_eps", "steps"} <= set(m["masking_evidence"])
    # deterministic for a seed, and the same whatever the batch size
    timing = {"seconds", "attack_seconds", "seconds_by_attack"}
    again = evaluate_autoattack(
        model, x, y, config=FAST, eps=0.05, norm="linf", batch_size=200, seed=0
    ).metrics
    assert {k: v for k, v in again.items() if k not in timing} == {
        k: v for k, v in m.items() if k not in timing
    }
