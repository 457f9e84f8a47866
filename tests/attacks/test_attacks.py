"""PGD and DDN: agreement with torchattacks and adv-lib, closed-form optimum, invariants."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from modelrobustness.attacks import ddn, margin, pgd
from modelrobustness.evaluation.harness import robustness_curve

from reference_libs import adv_lib_attacks, torchattacks


def _predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def _robust_accuracy(model, x_adv, y):
    return float((_predict(model, x_adv) == y).float().mean())


def _l2(a, b):
    return (a - b).flatten(1).norm(dim=1)


# --- against the references --------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.03, 0.05])
def test_pgd_without_random_start_equals_torchattacks(toy_classifier, eps):
    model, x, y = toy_classifier
    ours = pgd(model, x, y, eps=eps, steps=20, step_size=eps / 8, random_start=False)
    ref = torchattacks().PGD(model, eps=eps, alpha=eps / 8, steps=20, random_start=False)(x, y)
    fooled_ref = _predict(model, ref) != y
    fooled_ours = _predict(model, ours) != y
    assert 0 < int(fooled_ref.sum()) < len(y)  # a test with something to compare
    # Where torchattacks' final iterate fools the model, ours is that same iterate; where it
    # does not, ours is the final iterate too unless an earlier iterate fooled the model.
    assert torch.allclose(ours[fooled_ref], ref[fooled_ref], atol=1e-6)
    same_trajectory = ~fooled_ours
    assert torch.allclose(ours[same_trajectory], ref[same_trajectory], atol=1e-6)
    assert bool((fooled_ours >= fooled_ref).all())


def test_pgd_random_start_matches_torchattacks_robust_accuracy(toy_classifier):
    model, x, y = toy_classifier
    eps = 0.05
    torch.manual_seed(0)  # torchattacks draws its start from the global generator
    ref = torchattacks().PGD(model, eps=eps, alpha=eps / 8, steps=20, random_start=True)(x, y)
    ours = pgd(
        model,
        x,
        y,
        eps=eps,
        steps=20,
        step_size=eps / 8,
        generator=torch.Generator().manual_seed(1),
    )
    ours_acc, ref_acc = _robust_accuracy(model, ours, y), _robust_accuracy(model, ref, y)
    assert 0.2 < ref_acc < 0.9
    assert abs(ours_acc - ref_acc) <= 0.02


def test_ddn_matches_adv_lib(toy_classifier):
    model, x, y = toy_classifier
    ours = ddn(model, x, y, steps=100)
    ref = adv_lib_attacks().ddn(model, x, y, steps=100)
    assert bool((_predict(model, ours) != y).all())
    assert bool((_predict(model, ref) != y).all())
    ours_median, ref_median = float(_l2(ours, x).median()), float(_l2(ref, x).median())
    assert ours_median <= ref_median * 1.03
    assert ours_median >= ref_median * 0.97


class _Linear(nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

    def forward(self, x):
        return x.flatten(1) @ self.weight.T + self.bias


@pytest.mark.parametrize("classes,scale", [(2, 0.2), (10, 5.0)])
def test_ddn_near_closed_form_optimum_on_linear_model(classes, scale):
    """For logits Wx + b the minimal L2 adversarial distance is min over j != y of
    (z_y - z_j) / ||w_y - w_j|| (box ignored: the points stay far from it).

    DDN follows the cross-entropy gradient, which is normal to the nearest decision boundary
    when the other classes' probabilities vanish there: two classes, or confident logits.
    (With 5 low-confidence classes it settles about 10% above the optimum.)
    """
    g = torch.Generator().manual_seed(0)
    model = _Linear(torch.randn(classes, 64, generator=g) * scale, torch.zeros(classes))
    x = 0.5 + 0.05 * torch.rand(40, 1, 8, 8, generator=g)
    y = _predict(model, x)
    with torch.no_grad():
        z = model(x)
        w = model.weight
        gaps = z.gather(1, y[:, None]) - z  # z_y - z_j
        dist = gaps / (w[y][:, None, :] - w[None, :, :]).norm(dim=2).clamp_min(1e-12)
        dist[torch.arange(len(y)), y] = float("inf")
        optimum = dist.min(dim=1).values
    assert float(optimum.max()) < 0.4  # the box [0, 1] never binds around 0.5 +- 0.05
    adv = ddn(model, x, y, steps=100, levels=None)
    assert bool((_predict(model, adv) != y).all())
    ratio = _l2(adv, x) / optimum
    assert float(ratio.min()) >= 0.999  # nothing beats the optimum
    assert float(ratio.max()) <= 1.05


# --- invariants ----------------------------------------------------------------------------


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.5)])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_pgd_budget_and_box(toy_classifier, norm, eps, loss):
    model, x, y = toy_classifier
    adv = pgd(
        model,
        x,
        y,
        eps=eps,
        norm=norm,
        loss=loss,
        steps=10,
        step_size=eps / 4,
        generator=torch.Generator().manual_seed(0),
    )
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    size = (adv - x).abs().flatten(1).amax(1) if norm == "linf" else _l2(adv, x)
    assert float(size.max()) <= eps + 1e-5
    assert _robust_accuracy(model, adv, y) < _robust_accuracy(model, x, y)


def test_ddn_box_quantization_and_minimality(toy_classifier):
    model, x, y = toy_classifier
    adv = ddn(model, x, y, steps=50)
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    fooled = _predict(model, adv) != y
    levels = adv[fooled] * 255
    assert torch.allclose(levels, levels.round(), atol=1e-3)  # 8-bit quantized
    # fewer steps cannot find smaller perturbations on average
    short = ddn(model, x, y, steps=10)
    assert float(_l2(adv, x).median()) <= float(_l2(short, x).median())


def test_pgd_deterministic_for_a_seed(toy_classifier):
    model, x, y = toy_classifier
    runs = [
        pgd(
            model,
            x,
            y,
            eps=0.05,
            steps=10,
            step_size=0.01,
            restarts=2,
            generator=torch.Generator().manual_seed(7),
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    other = pgd(
        model, x, y, eps=0.05, steps=10, step_size=0.01, generator=torch.Generator().manual_seed(8)
    )
    assert not torch.equal(runs[0], other)
    assert torch.equal(ddn(model, x, y, steps=20), ddn(model, x, y, steps=20))


@pytest.mark.parametrize("early_stop", [False, True])
def test_pgd_independent_of_batch_size(toy_classifier, early_stop):
    model, x, y = toy_classifier
    x, y = x[:63], y[:63]  # 9 batches of 7 and 7 of 9 against one of 63
    kwargs = dict(eps=0.05, steps=10, step_size=0.01, random_start=False, early_stop=early_stop)
    whole = pgd(model, x, y, **kwargs)
    pieces = torch.cat(
        [pgd(model, x[i : i + 7], y[i : i + 7], **kwargs) for i in range(0, len(x), 7)]
    )
    assert torch.allclose(whole, pieces, atol=1e-6)
    whole_ddn = ddn(model, x, y, steps=20)
    pieces_ddn = torch.cat(
        [ddn(model, x[i : i + 9], y[i : i + 9], steps=20) for i in range(0, len(x), 9)]
    )
    assert torch.allclose(whole_ddn, pieces_ddn, atol=1e-6)


def test_inputs_model_mode_and_parameters_untouched(toy_classifier):
    model, x, y = toy_classifier
    model = copy.deepcopy(model).train()
    state = copy.deepcopy(model.state_dict())
    x_before, y_before = x.clone(), y.clone()
    pgd(model, x, y, eps=0.05, steps=5, step_size=0.01)
    ddn(model, x, y, steps=5)
    assert model.training  # mode restored
    wrapper = nn.Sequential(copy.deepcopy(model).eval())  # submodules in another mode
    pgd(wrapper, x, y, eps=0.05, steps=2, step_size=0.01)
    assert wrapper.training and not wrapper[0].training  # each restored to its own mode
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert all(p.grad is None for p in model.parameters())
    for name, value in model.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value, state[name]), name


def _count_forward_rows(model):
    rows = []
    handle = model.register_forward_hook(lambda m, inputs, out: rows.append(len(inputs[0])))
    return rows, handle


def test_early_stop_same_success_less_work(toy_classifier):
    model, x, y = toy_classifier
    results, work = {}, {}
    for early_stop in (False, True):
        rows, handle = _count_forward_rows(model)
        results[early_stop] = pgd(
            model,
            x,
            y,
            eps=0.05,
            steps=20,
            step_size=0.01,
            early_stop=early_stop,
            generator=torch.Generator().manual_seed(3),
        )
        handle.remove()
        work[early_stop] = sum(rows)
    fooled = {k: _predict(model, v) != y for k, v in results.items()}
    assert torch.equal(fooled[False], fooled[True])
    assert work[True] < 0.8 * work[False]


def test_restarts_attack_only_unsolved(toy_classifier):
    model, x, y = toy_classifier
    rows, handle = _count_forward_rows(model)
    adv = pgd(
        model,
        x,
        y,
        eps=0.05,
        steps=5,
        step_size=0.01,
        restarts=3,
        generator=torch.Generator().manual_seed(0),
    )
    handle.remove()
    per_run = 5 + 1  # steps forward passes plus the check of the last iterate
    sizes = [rows[i] for i in range(0, len(rows), per_run)]
    assert sizes[0] == len(x) and len(sizes) >= 2
    assert all(later < earlier for earlier, later in zip(sizes, sizes[1:], strict=False))
    single = pgd(
        model, x, y, eps=0.05, steps=5, step_size=0.01, generator=torch.Generator().manual_seed(0)
    )
    assert _robust_accuracy(model, adv, y) <= _robust_accuracy(model, single, y)


def test_success_monotone_in_eps(toy_classifier):
    model, x, y = toy_classifier
    accs = [
        _robust_accuracy(
            model, pgd(model, x, y, eps=e, steps=20, step_size=e / 8, random_start=False), y
        )
        for e in (0.01, 0.02, 0.03, 0.05, 0.1)
    ]
    assert accs == sorted(accs, reverse=True) and accs[0] > accs[-1]

    def attack(xb, yb, eps):
        return pgd(
            model,
            xb,
            yb,
            eps=eps,
            steps=10,
            step_size=eps / 4,
            generator=torch.Generator().manual_seed(0),
        )

    curve = robustness_curve(model, x, y, eps_list=[0.1, 0.01, 0.03], attack=attack, batch_size=100)
    assert [row["eps"] for row in curve] == [0.01, 0.03, 0.1]
    values = [row["robust_accuracy"] for row in curve]
    assert values == sorted(values, reverse=True)


def test_curve_reuses_a_known_attack_at_its_eps(toy_classifier):
    """With ``known_attacked`` the curve does not attack again at the known eps: its point
    there is the known result on the survivors of the smaller eps."""
    model, x, y = toy_classifier
    called: list[float] = []

    def attack(xb, yb, eps):
        called.append(eps)
        return pgd(
            model,
            xb,
            yb,
            eps=eps,
            steps=10,
            step_size=eps / 4,
            generator=torch.Generator().manual_seed(0),
        )

    fooled = _predict(model, attack(x, y, 0.1)) != y
    called.clear()
    clean_correct = _predict(model, x) == y
    for known_attacked, attacked_at_known in ((False, True), (True, False)):
        curve = robustness_curve(
            model,
            x,
            y,
            eps_list=[0.01, 0.1],
            attack=attack,
            batch_size=100,
            known=(0.1, fooled & clean_correct),
            known_attacked=known_attacked,
        )
        assert (0.1 in called) == attacked_at_known
        called.clear()
        values = [row["robust_accuracy"] for row in curve]
        assert values[1] <= float((clean_correct & ~fooled).double().mean()) + 1e-12
    assert values[1] < values[0]  # the known result counts at eps 0.1 without a rerun


def test_targeted_attacks_reach_the_target(toy_classifier):
    model, x, y = toy_classifier
    target = (y + 1) % 4
    adv = pgd(
        model,
        x,
        target,
        eps=0.2,
        steps=40,
        step_size=0.02,
        targeted=True,
        loss="margin",
        generator=torch.Generator().manual_seed(0),
    )
    assert float((_predict(model, adv) == target).float().mean()) > 0.9
    adv = ddn(model, x, target, steps=100, targeted=True)
    assert float((_predict(model, adv) == target).float().mean()) > 0.9


class _Band(nn.Module):
    """One pixel v; class 1 wins only for |v - 0.3| < 0.1 (logit 1 - 100 (v - 0.3)^2)."""

    def forward(self, x):
        v = x.flatten(1)[:, :1]
        return torch.cat([torch.zeros_like(v), 1 - 100 * (v - 0.3) ** 2], dim=1)


def test_pgd_keeps_an_earlier_misclassified_iterate():
    """From 0.15 with step 0.2 PGD visits 0.35 (misclassified), then steps back to 0.15
    (correct). Without early stopping the misclassified iterate must still be returned."""
    x, y = torch.full((1, 1, 1, 1), 0.15), torch.tensor([0])
    for early_stop in (False, True):
        adv = pgd(
            _Band(),
            x,
            y,
            eps=0.5,
            steps=2,
            step_size=0.2,
            random_start=False,
            early_stop=early_stop,
        )
        assert float(adv.flatten()[0]) == pytest.approx(0.35)
        assert int(_predict(_Band(), adv)[0]) == 1


def test_margin_loss_known_values():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, -1.0]])
    assert margin(logits, torch.tensor([0, 2])).tolist() == [-1.0, 6.0]


def test_bad_arguments_raise(toy_classifier):
    model, x, y = toy_classifier
    base = dict(eps=0.05, steps=5, step_size=0.01)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pgd(model, x * 2, y, **base)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ddn(model, x - 0.5, y)
    with pytest.raises(ValueError, match="int64"):
        pgd(model, x, y.float(), **base)
    with pytest.raises(ValueError, match="shape"):
        pgd(model, x, y[:-1], **base)
    with pytest.raises(ValueError, match="norm"):
        pgd(model, x, y, norm="l1", **base)
    with pytest.raises(ValueError, match="loss"):
        pgd(model, x, y, loss="hinge", **base)
    with pytest.raises(ValueError, match="eps"):
        pgd(model, x, y, eps=0.0, steps=5, step_size=0.01)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, eps=0.1, steps=0, step_size=0.01)
    with pytest.raises(ValueError, match="restarts"):
        pgd(model, x, y, restarts=0, **base)
    with pytest.raises(ValueError, match="gamma"):
        ddn(model, x, y, gamma=1.5)
    with pytest.raises(ValueError, match="levels"):
        ddn(model, x, y, levels=1)
    with pytest.raises(TypeError):
        pgd(model, x, y, 0.05)  # options are keyword-only
