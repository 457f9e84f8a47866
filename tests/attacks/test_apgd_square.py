"""APGD and Square: agreement with torchattacks and adv-lib, the DLR loss and the schedules,
invariants (budget, box, determinism, batch independence, untouched inputs and model),
argument checks, and robustness to a saturated softmax (gradient masking)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from modelrobustness.attacks.apgd import apgd, checkpoints, rank_targets
from modelrobustness.attacks.losses import dlr, targeted_dlr
from modelrobustness.attacks.square import p_schedule, square
from modelrobustness.utils.checks import InvalidValue

from helpers.toy_data import toy_images, toy_model
from reference_libs import adv_lib_attacks, torchattacks

TA_NORMS = {"linf": "Linf", "l2": "L2"}
ADV_LIB_NORMS = {"linf": float("inf"), "l2": 2}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def _robust_accuracy(model, x_adv, y):
    return float((_predict(model, x_adv) == y).float().mean())


def _size(adv, x, norm):
    delta = (adv - x).flatten(1)
    return delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)


def _count_forward_rows(model):
    rows = []
    handle = model.register_forward_hook(lambda m, inputs, out: rows.append(len(inputs[0])))
    return rows, handle


def _mean(values):
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def toy_classifier_20():
    """The conftest ``toy_classifier`` recipe on 20 x 20 images (torchattacks' L2 Square
    writes outside a 12 x 12 image)."""
    from modelrobustness.training.fit import fit

    from helpers.configs import fit_config

    x, y = toy_images(512, seed=0, size=20)
    vx, vy = toy_images(128, seed=1, size=20)
    with torch.random.fork_rng():
        model = toy_model(num_classes=4, image_size=20)
    fit(model, x, y, vx, vy, config=fit_config(epochs=4, batch_size=32, lr=0.05), seed=0)
    tx, ty = toy_images(200, seed=2, size=20)
    return model.eval(), tx, ty


def _apgd_t(model, x, y, *, eps, norm, steps, seed):
    """APGD-T as AutoAttack runs it: targeted DLR at the classes ranked 2, 3, 4 in turn,
    each on the samples still classified correctly."""
    adv, generator = x.clone(), _gen(seed)
    alive = _predict(model, x) == y
    for rank in (2, 3, 4):
        todo = alive.nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        adv[todo] = apgd(
            model,
            x[todo],
            y[todo],
            eps=eps,
            norm=norm,
            steps=steps,
            loss="dlr",
            targeted=True,
            target_rank=rank,
            generator=generator,
        )
        alive[todo] = _predict(model, adv[todo]) == y[todo]
    return adv


# --- against the references --------------------------------------------------------------


@pytest.mark.parametrize("norm,eps", [("linf", 0.02), ("linf", 0.04), ("l2", 0.3), ("l2", 0.6)])
def test_apgd_ce_as_strong_as_torchattacks(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    ours = apgd(model, x, y, eps=eps, norm=norm, steps=50, loss="ce", generator=_gen(0))
    with torch.random.fork_rng():  # torchattacks seeds the global generator
        ref = torchattacks().APGD(model, norm=TA_NORMS[norm], eps=eps, steps=50, loss="ce", seed=0)(
            x, y
        )
    ours_acc, ref_acc = _robust_accuracy(model, ours, y), _robust_accuracy(model, ref, y)
    assert 0.0 < ref_acc < 1.0  # something to compare
    assert ours_acc <= ref_acc + 0.01


@pytest.mark.parametrize("norm,eps", [("linf", 0.04), ("l2", 0.6)])
def test_apgd_targeted_dlr_as_strong_as_torchattacks_apgdt(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    ours = _apgd_t(model, x, y, eps=eps, norm=norm, steps=50, seed=0)
    with torch.random.fork_rng():
        ref = torchattacks().APGDT(
            model, norm=TA_NORMS[norm], eps=eps, steps=50, n_classes=4, seed=0
        )(x, y)
    ours_acc, ref_acc = _robust_accuracy(model, ours, y), _robust_accuracy(model, ref, y)
    assert 0.0 < ref_acc < 1.0
    assert ours_acc <= ref_acc + 0.01


@pytest.mark.parametrize("norm,eps", [("linf", 0.04), ("l2", 0.6)])
def test_apgd_dlr_as_strong_as_adv_lib(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    ours = apgd(model, x, y, eps=eps, norm=norm, steps=50, loss="dlr", generator=_gen(0))
    with torch.random.fork_rng():  # adv-lib draws its start from the global generator
        torch.manual_seed(0)
        ref = adv_lib_attacks().apgd(
            model, x, y, eps=eps, norm=ADV_LIB_NORMS[norm], n_iter=50, loss_function="dlr"
        )
    ours_acc, ref_acc = _robust_accuracy(model, ours, y), _robust_accuracy(model, ref, y)
    assert 0.0 < ref_acc < 1.0
    assert ours_acc <= ref_acc + 0.01


def _square_vs_torchattacks(model, x, y, *, eps, norm, queries, seeds):
    ours, ref = [], []
    for seed in seeds:
        adv = square(model, x, y, eps=eps, norm=norm, queries=queries, generator=_gen(seed))
        ours.append(_robust_accuracy(model, adv, y))
        with torch.random.fork_rng():
            adv = torchattacks().Square(
                model, norm=TA_NORMS[norm], eps=eps, n_queries=queries, seed=seed
            )(x, y)
        ref.append(_robust_accuracy(model, adv, y))
    return _mean(ours), _mean(ref)


def test_square_linf_as_strong_as_torchattacks(toy_classifier):
    """torchattacks moves one square position for the whole batch, so its batch accuracy is
    noisy (a seed's swing is about 3 points): the means over two seeds are compared."""
    model, x, y = toy_classifier
    ours, ref = _square_vs_torchattacks(
        model, x, y, eps=0.04, norm="linf", queries=500, seeds=(0, 1)
    )
    assert 0.0 < ref < 1.0
    assert ours <= ref + 0.02


def test_square_l2_as_strong_as_torchattacks(toy_classifier_20):
    model, x, y = toy_classifier_20
    x, y = x[:100], y[:100]
    ours, ref = _square_vs_torchattacks(model, x, y, eps=1.0, norm="l2", queries=400, seeds=(0, 1))
    assert 0.0 < ref < 1.0
    assert ours <= ref + 0.02


# --- the loss and the schedules ----------------------------------------------------------


def test_dlr_known_values():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 5.0, -1.0, 1.0]])
    # row 0 sorted 3, 2, 1, 0: z_pi1 - z_pi3 = 2; row 1 sorted 5, 1, 0, -1: 5
    assert dlr(logits, torch.tensor([0, 1])).tolist() == pytest.approx([-0.5, -0.8])
    assert dlr(logits, torch.tensor([3, 2])).tolist() == pytest.approx([1.5, 1.2])
    # targeted: (z_t - z_y) / (z_pi1 - (z_pi3 + z_pi4) / 2): 2.5 and 5.5
    value = targeted_dlr(logits, torch.tensor([0, 1]), torch.tensor([2, 3]))
    assert value.tolist() == pytest.approx([-1 / 2.5, -4 / 5.5])
    value = targeted_dlr(logits, torch.tensor([1, 2]), torch.tensor([0, 1]))
    assert value.tolist() == pytest.approx([2 / 2.5, 6 / 5.5])


def test_dlr_invariant_to_shift_and_scale_and_equal_to_adv_lib():
    g = _gen(0)
    logits = torch.randn(50, 6, generator=g) * 3
    labels = torch.randint(0, 6, (50,), generator=g)
    targets = (labels + 1 + torch.randint(0, 5, (50,), generator=g)) % 6
    moved = 2.5 * logits - 7.0
    assert torch.allclose(dlr(moved, labels), dlr(logits, labels), atol=1e-5)
    assert torch.allclose(
        targeted_dlr(moved, labels, targets), targeted_dlr(logits, labels, targets), atol=1e-5
    )
    assert torch.allclose(dlr(1e4 * logits, labels), dlr(logits, labels), atol=1e-5)
    # adv-lib's DLR is the opposite (positive while classified right)
    from adv_lib.utils.losses import difference_of_logits_ratio

    assert torch.allclose(
        dlr(logits, labels), -difference_of_logits_ratio(logits, labels), atol=1e-5
    )


def test_rank_targets(toy_classifier):
    model, x, y = toy_classifier
    with torch.no_grad():
        order = model(x).argsort(dim=1, descending=True)
    for rank in (2, 3, 4):
        targets = rank_targets(model, x, rank=rank)
        assert torch.equal(targets, order[:, rank - 1])
        assert bool((targets != _predict(model, x)).all())


def test_checkpoints():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for n in range(1, 201):
        points = checkpoints(n)
        assert points, n
        assert points[0] >= 1 and points[-1] <= n, n
        gaps = [b - a for a, b in zip(points, points[1:], strict=False)]
        assert all(gap > 0 for gap in gaps), n  # strictly increasing
        assert gaps == sorted(gaps, reverse=True), n  # windows never grow


def test_p_schedule_halvings():
    p = 0.8
    assert p_schedule(0, queries=10000, p_init=p) == p
    assert p_schedule(10, queries=10000, p_init=p) == p
    assert p_schedule(11, queries=10000, p_init=p) == p / 2
    assert p_schedule(50, queries=10000, p_init=p) == p / 2
    assert p_schedule(51, queries=10000, p_init=p) == p / 4
    assert p_schedule(9999, queries=10000, p_init=p) == p / 512
    # rescaled: 1000 queries halve after iteration 1 (= 10 of 10000), 200 after 0
    assert p_schedule(1, queries=1000, p_init=p) == p
    assert p_schedule(2, queries=1000, p_init=p) == p / 2
    assert p_schedule(0, queries=200, p_init=p) == p
    assert p_schedule(1, queries=200, p_init=p) == p / 2
    assert p_schedule(2, queries=200, p_init=p) == p / 4
    assert p_schedule(3, queries=10, p_init=0.5) == 0.5 / 64  # 3000 > 2000: six halvings
    # the same schedule as torchattacks' Square at every iteration of a few budgets
    ref = torchattacks().Square(nn.Linear(1, 1), p_init=p)
    for queries in (7, 100, 300, 1000, 10000):
        ref.n_queries = queries
        assert [p_schedule(i, queries=queries, p_init=p) for i in range(queries)] == [
            ref.p_selection(i) for i in range(queries)
        ], queries


# --- invariants ----------------------------------------------------------------------------


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.6)])
def test_budget_and_box(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    x = x.clone()
    x[:20] = (x[:20] * 4).clamp(0, 1)  # images touching both ends of the box
    clean = _robust_accuracy(model, x, y)
    runs = [
        apgd(model, x, y, eps=eps, norm=norm, steps=20, loss=loss, generator=_gen(0))
        for loss in ("ce", "dlr")
    ]
    runs.append(
        apgd(
            model,
            x,
            y,
            eps=eps,
            norm=norm,
            steps=20,
            loss="dlr",
            targeted=True,
            target_rank=3,
            generator=_gen(0),
        )
    )
    runs.append(apgd(model, x, y, eps=eps, norm=norm, steps=20, restarts=2, generator=_gen(0)))
    runs.append(square(model, x, y, eps=eps, norm=norm, queries=100, generator=_gen(0)))
    for adv in runs:
        assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
        assert float(_size(adv, x, norm).max()) <= eps + 1e-5
        assert _robust_accuracy(model, adv, y) < clean


def test_deterministic_for_a_seed(toy_classifier):
    model, x, y = toy_classifier
    x, y = x[:60], y[:60]
    for norm, eps in (("linf", 0.05), ("l2", 0.6)):

        def run_apgd(seed, norm=norm, eps=eps):
            return apgd(
                model,
                x,
                y,
                eps=eps,
                norm=norm,
                steps=10,
                loss="dlr",
                restarts=2,
                generator=_gen(seed),
            )

        def run_square(seed, norm=norm, eps=eps):
            return square(model, x, y, eps=eps, norm=norm, queries=50, generator=_gen(seed))

        for run in (run_apgd, run_square):
            first = run(7)
            assert torch.equal(first, run(7)), (run.__name__, norm)
            assert not torch.equal(first, run(8)), (run.__name__, norm)


def _in_pieces(attack, x, y, size=7):
    generator = _gen(0)
    return torch.cat(
        [attack(x[i : i + size], y[i : i + size], generator) for i in range(0, len(x), size)]
    )


@pytest.mark.parametrize("norm,eps", [("linf", 0.04), ("l2", 0.6)])
@pytest.mark.parametrize(
    "options",
    [
        dict(loss="ce"),
        dict(loss="dlr", early_stop=True),
        dict(loss="dlr", targeted=True, target_rank=2),
    ],
)
def test_apgd_independent_of_batch_size(toy_classifier, norm, eps, options):
    model, x, y = toy_classifier
    x, y = x[:60], y[:60]

    def attack(xb, yb, generator):
        return apgd(model, xb, yb, eps=eps, norm=norm, steps=10, generator=generator, **options)

    whole = attack(x, y, _gen(0))
    assert torch.allclose(whole, _in_pieces(attack, x, y), atol=1e-6)


def test_apgd_l2_independent_of_batch_size_for_any_image_size(toy_classifier):
    model, x, y = toy_classifier
    x13 = nn.functional.pad(x[:60], (0, 1, 0, 1))  # 13 x 13: 169 numbers per image
    classifier = nn.Sequential(nn.Upsample(size=(12, 12), mode="bilinear"), model)

    def attack(xb, yb, generator):
        return apgd(classifier, xb, yb, eps=0.6, norm="l2", steps=5, generator=generator)

    whole = attack(x13, y[:60], _gen(0))
    assert torch.allclose(whole, _in_pieces(attack, x13, y[:60]), atol=1e-6)
    # CPU randn fills blocks of 16 and redraws a ragged tail: the draws are padded per row
    from modelrobustness.attacks.ball import random_start

    g = _gen(1)
    pieces = torch.cat(
        [random_start(x13[i : i + 7], eps=0.6, norm="l2", generator=g) for i in range(0, 60, 7)]
    )
    assert torch.equal(random_start(x13, eps=0.6, norm="l2", generator=_gen(1)), pieces)


@pytest.mark.parametrize("norm,eps", [("linf", 0.04), ("l2", 0.6)])
def test_square_independent_of_batch_size(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    x, y = x[:60], y[:60]

    def attack(xb, yb, generator):
        return square(model, xb, yb, eps=eps, norm=norm, queries=60, generator=generator)

    whole = attack(x, y, _gen(0))
    assert not torch.equal(whole, x)
    assert torch.allclose(whole, _in_pieces(attack, x, y), atol=1e-6)


def test_inputs_model_mode_and_parameters_untouched(toy_classifier):
    model, x, y = toy_classifier
    model = copy.deepcopy(model).train()
    state = copy.deepcopy(model.state_dict())
    x, y = x[:50], y[:50]
    x_before, y_before = x.clone(), y.clone()
    wrapper = nn.Sequential(copy.deepcopy(model).eval())  # submodules in another mode
    for norm, eps in (("linf", 0.05), ("l2", 0.6)):
        for loss, rank in (("ce", None), ("dlr", None), ("dlr", 2)):
            apgd(
                model,
                x,
                y,
                eps=eps,
                norm=norm,
                steps=5,
                loss=loss,
                targeted=rank is not None,
                target_rank=rank,
                generator=_gen(0),
            )
        square(model, x, y, eps=eps, norm=norm, queries=20, generator=_gen(0))
        assert model.training  # mode restored
        apgd(wrapper, x, y, eps=eps, norm=norm, steps=2)
        square(wrapper, x, y, eps=eps, norm=norm, queries=5)
        assert wrapper.training and not wrapper[0].training  # each restored to its own mode
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert not x.requires_grad
    assert all(p.grad is None for p in model.parameters())
    for name, value in model.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value, state[name]), name


@pytest.mark.parametrize(
    "norm,eps_list", [("linf", (0.02, 0.03, 0.05, 0.08)), ("l2", (0.3, 0.5, 0.8, 1.2))]
)
def test_success_monotone_in_eps(toy_classifier, norm, eps_list):
    """APGD (deterministic for a seed, budgets far apart) is exactly monotone; Square's
    random search is allowed 2 points of slack."""
    model, x, y = toy_classifier
    for loss in ("ce", "dlr"):
        accs = [
            _robust_accuracy(
                model,
                apgd(model, x, y, eps=e, norm=norm, steps=20, loss=loss, generator=_gen(0)),
                y,
            )
            for e in eps_list
        ]
        assert accs == sorted(accs, reverse=True) and accs[0] > accs[-1], (loss, accs)
    accs = [
        _robust_accuracy(
            model,
            square(model, x[:100], y[:100], eps=e, norm=norm, queries=100, generator=_gen(0)),
            y[:100],
        )
        for e in eps_list
    ]
    assert all(b <= a + 0.02 for a, b in zip(accs, accs[1:], strict=False)), accs
    assert accs[0] > accs[-1], accs


@pytest.mark.parametrize("norm,eps,saving", [("linf", 0.04, 0.95), ("l2", 0.6, 0.6)])
@pytest.mark.parametrize("loss,rank", [("ce", None), ("dlr", None), ("dlr", 2)])
def test_apgd_early_stop_same_success_less_work(toy_classifier, norm, eps, saving, loss, rank):
    model, x, y = toy_classifier
    fooled, work = {}, {}
    for early_stop in (False, True):
        rows, handle = _count_forward_rows(model)
        try:
            adv = apgd(
                model,
                x,
                y,
                eps=eps,
                norm=norm,
                steps=30,
                loss=loss,
                targeted=rank is not None,
                target_rank=rank,
                early_stop=early_stop,
                generator=_gen(0),
            )
        finally:
            handle.remove()
        work[early_stop] = sum(rows)
        fooled[early_stop] = _predict(model, adv) != y
    assert 0 < int(fooled[False].sum()) < len(y)
    assert bool((fooled[True] >= fooled[False]).all())  # the same or more samples
    assert torch.equal(fooled[True], fooled[False])  # as the docstring says: the same
    assert work[True] < saving * work[False]


class _NoGradModel(nn.Module):
    """Refuses to run where a gradient could be taken."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        if torch.is_grad_enabled() or x.requires_grad:
            raise AssertionError("square asked for a gradient")
        return self.model(x)


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.8)])
def test_square_needs_no_gradient(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    x, y = x[:60], y[:60]
    reference = square(model, x, y, eps=eps, norm=norm, queries=100, generator=_gen(0))
    assert _robust_accuracy(model, reference, y) < _robust_accuracy(model, x, y)
    guarded = _NoGradModel(model)
    with torch.no_grad():
        assert torch.equal(
            square(guarded, x, y, eps=eps, norm=norm, queries=100, generator=_gen(0)), reference
        )
    assert torch.equal(
        square(guarded, x, y, eps=eps, norm=norm, queries=100, generator=_gen(0)), reference
    )
    with pytest.raises(AssertionError, match="gradient"):  # the guard itself works
        guarded(x.clone().requires_grad_())
    frozen = copy.deepcopy(model).requires_grad_(False)
    assert torch.equal(
        square(frozen, x, y, eps=eps, norm=norm, queries=100, generator=_gen(0)), reference
    )
    # APGD needs gradients of the input only: frozen parameters are fine
    adv = apgd(frozen, x, y, eps=eps, norm=norm, steps=10, generator=_gen(0))
    assert torch.equal(adv, apgd(model, x, y, eps=eps, norm=norm, steps=10, generator=_gen(0)))


# --- argument checks ---------------------------------------------------------------------


def _raises(name, call, *args, **kwargs):
    with pytest.raises(InvalidValue) as info:
        call(*args, **kwargs)
    assert info.value.name == name
    assert isinstance(info.value, ValueError) and name in str(info.value)


def test_bad_arguments_raise(toy_classifier):
    model, x, y = toy_classifier
    x, y = x[:8], y[:8]
    base = dict(eps=0.05, steps=2)
    for eps in (0.0, -0.1):
        _raises("eps", apgd, model, x, y, eps=eps, steps=2)
        _raises("eps", square, model, x, y, eps=eps, queries=2)
    _raises("norm", apgd, model, x, y, norm="l1", **base)
    _raises("norm", square, model, x, y, eps=0.05, norm="l1", queries=2)
    _raises("loss", apgd, model, x, y, loss="hinge", **base)
    _raises("target_rank", apgd, model, x, y, targeted=True, **base)
    _raises("target_rank", apgd, model, x, y, target_rank=2, **base)
    for rank in (1, 5):  # the model has 4 classes
        _raises("target_rank", apgd, model, x, y, targeted=True, target_rank=rank, **base)
        _raises("target_rank", rank_targets, model, x, rank=rank)
    for rho in (0.0, -0.5, 1.5):
        _raises("rho", apgd, model, x, y, rho=rho, **base)
    for p_init in (0.0, -0.1, 1.5):
        _raises("p_init", square, model, x, y, eps=0.05, p_init=p_init, queries=2)
    _raises(
        "x.shape",
        square,
        nn.Sequential(nn.Unflatten(1, (1, 12, 12)), model),
        x.flatten(1),
        y,
        eps=0.05,
        queries=2,
    )
    _raises("restarts", apgd, model, x, y, restarts=0, **base)
    _raises("steps", apgd, model, x, y, eps=0.05, steps=-1)
    _raises("queries", square, model, x, y, eps=0.05, queries=-1)
    _raises("x", apgd, model, x * 2, y, **base)
    _raises("y", square, model, x, y.float(), eps=0.05, queries=2)
    two_classes = nn.Sequential(model, nn.Linear(4, 2))
    _raises("loss", apgd, two_classes, x, y % 2, loss="dlr", **base)  # DLR needs 3 classes
    with pytest.raises(TypeError):
        apgd(model, x, y, 0.05)  # options are keyword-only
    with pytest.raises(TypeError):
        square(model, x, y, 0.05)
    # the boundaries are allowed
    apgd(model, x, y, rho=1.0, **base)
    square(model, x, y, eps=0.05, p_init=1.0, queries=2)


# --- gradient masking ----------------------------------------------------------------------


class _Scaled(nn.Module):
    """The same classifier with its logits times 1e4: the softmax saturates and the CE
    gradient underflows to zero on confidently classified images."""

    def __init__(self, model, factor=1e4):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x):
        return self.model(x) * self.factor


@pytest.mark.parametrize("norm,eps", [("linf", 0.04), ("l2", 0.6)])
def test_dlr_and_square_see_through_saturated_softmax(toy_classifier, norm, eps):
    model, x, y = toy_classifier
    scaled = _Scaled(model)
    assert torch.equal(_predict(scaled, x), _predict(model, x))
    acc = {}
    for name, net in (("plain", model), ("scaled", scaled)):
        for loss in ("ce", "dlr"):
            adv = apgd(net, x, y, eps=eps, norm=norm, steps=30, loss=loss, generator=_gen(0))
            acc[name, loss] = _robust_accuracy(net, adv, y)
        adv = square(net, x[:100], y[:100], eps=eps, norm=norm, queries=200, generator=_gen(0))
        acc[name, "square"] = _robust_accuracy(net, adv, y[:100])
    assert acc["plain", "ce"] < 0.9  # CE works on the plain model ...
    assert acc["scaled", "ce"] >= acc["plain", "ce"] + 0.1, acc  # ... and is masked here
    assert acc["scaled", "dlr"] <= acc["plain", "dlr"] + 0.02, acc
    assert acc["scaled", "square"] <= acc["plain", "square"] + 0.02, acc
    assert acc["scaled", "dlr"] < acc["scaled", "ce"] - 0.05, acc
    assert acc["plain", "square"] < 1.0, acc
