"""Stage ``train_adversarial``: adversarial training (FGSM with a random start, PGD or
TRADES) with the shared ``train`` settings, the kept epoch chosen by robust validation
accuracy under PGD-10 (:mod:`..training.robust_validation`). By default it fine-tunes the
trained baseline (``adversarial.init: baseline``; Jeddi, Shafiee & Wong 2020, "A Simple
Fine-tuning Is All You Need"), which reaches more robustness in fewer epochs than fresh
weights here; ``scratch`` starts from fresh weights as Wong et al. 2020 do."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from ..attacks.ball import BUDGET
from ..data.prepared import load_split
from ..training.adversarial import AdversarialConfig, perturbation
from ..training.fit import FitConfig
from ..training.robust_validation import (
    CLEAN_KEY,
    FGSM_KEY,
    PGD_STEPS,
    ROBUST_KEY,
    collapsed_epochs,
    epoch_scorer,
    robust_accuracy,
)
from ..training.train_classifier import TrainedClassifier
from ..utils.checks import Integer, InvalidValue, Nullable, OneOf, field_rules
from .artifacts.models import load_trained
from .params import (
    Section,
    checked_section,
    device,
    load_params,
    make_config,
    params_error,
    seed,
)
from .paths import ProjectPaths
from .threat import pgd_threat
from .train import architecture_config, fit_config, run_training

ROLE = "adversarial"
# where the weights start: the trained baseline (adversarial fine-tuning) or fresh ones
INITS: tuple[str, ...] = ("baseline", "scratch")
FINE_TUNED_FROM = "baseline"
_CONFIG_RULES = field_rules(AdversarialConfig)
ADVERSARIAL_SECTION = Section(
    {
        **{name: rule for name, rule in _CONFIG_RULES.items() if name not in ("eps", "norm")},
        "eps": Nullable(BUDGET),  # null: attack.pgd.eps
        "val_samples": Integer(minimum=1),
        "epochs": Nullable(Integer(minimum=1)),  # null: train.epochs
        "init": OneOf(INITS),
    }
)


@dataclasses.dataclass(frozen=True)
class AdversarialSettings:
    """What the ``adversarial`` section sets: the method, the guard's validation images, the
    ``train`` section with this stage's own epochs, and where the weights start."""

    config: AdversarialConfig
    val_samples: int
    fit: FitConfig
    init: str


def adversarial_settings(params: Mapping[str, Any]) -> AdversarialSettings:
    """The ``adversarial`` section (``eps`` null: ``attack.pgd.eps``; the norm is
    ``attack.pgd.norm``; ``epochs`` null: ``train.epochs``) on top of ``train``. The
    warm-up must end before the last epoch, or the model would never train at the budget it
    reports."""
    values = checked_section(params, "adversarial", ADVERSARIAL_SECTION)
    fit = fit_config(params)
    if values["epochs"] is not None:
        fit = dataclasses.replace(fit, epochs=values["epochs"])
    epochs_key = "train.epochs" if values["epochs"] is None else "adversarial.epochs"
    if values["warmup_epochs"] >= fit.epochs:
        raise params_error(
            InvalidValue(
                "adversarial.warmup_epochs",
                values["warmup_epochs"],
                f"below {epochs_key} = {fit.epochs} (the budget ramps up over the warm-up)",
            )
        )
    eps, norm = pgd_threat(params, eps=values["eps"], eps_key="adversarial.eps")
    eps_key = "attack.pgd.eps" if values["eps"] is None else "adversarial.eps"
    fields = {name: values[name] for name in _CONFIG_RULES if name not in ("eps", "norm")}
    keys = {name: f"adversarial.{name}" for name in fields}
    config = make_config(
        AdversarialConfig,
        {**fields, "eps": eps, "norm": norm},
        keys={**keys, "eps": eps_key, "norm": "attack.pgd.norm"},
    )
    return AdversarialSettings(
        config=config, val_samples=values["val_samples"], fit=fit, init=values["init"]
    )


def _robust_record(
    run: TrainedClassifier,
    *,
    settings: AdversarialSettings,
    val_images: int,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    run_seed: int,
    run_device: torch.device,
) -> dict[str, Any]:
    """What adversarial training adds to the training record: the method, the robust
    validation accuracy at the kept epoch, the test subset's clean and robust accuracy,
    and both overfitting diagnoses."""
    config, val_samples = settings.config, settings.val_samples
    history = run.fit.history
    kept = next(row for row in history if row["epoch"] == run.fit.best_epoch)
    test_x, test_y = test_x[:val_samples], test_y[:val_samples]
    test = robust_accuracy(
        run.model,
        test_x,
        test_y,
        eps=config.eps,
        norm=config.norm,
        seed=run_seed,
        device=run_device,
    )
    collapsed = collapsed_epochs(history)
    return {
        "method": config.method,
        "init": settings.init,
        "eps": config.eps,
        "norm": config.norm,
        "alpha": config.step_size,
        "steps": config.steps if config.method != "fgsm_rs" else 1,
        "beta": config.beta if config.method == "trades" else None,
        "warmup_epochs": config.warmup_epochs,
        "val_samples": val_samples,
        "val_images": val_images,
        "test_images": len(test_x),
        "selected_by": f"{ROBUST_KEY} (PGD-{PGD_STEPS})",
        ROBUST_KEY: kept[ROBUST_KEY],
        FGSM_KEY: kept[FGSM_KEY],
        CLEAN_KEY: kept[CLEAN_KEY],
        "test_subset_accuracy": test.clean,
        "test_robust_accuracy": test.pgd,
        "test_fgsm_accuracy": test.fgsm,
        "catastrophic_overfitting": bool(collapsed),
        "collapsed_epochs": collapsed,
        "robust_overfitting_drop": kept[ROBUST_KEY] - history[-1][ROBUST_KEY],
        "guard_seconds": round(run.fit.score_seconds, 3),
    }


def main() -> None:
    """Stage ``train_adversarial``."""
    params, paths = load_params(), ProjectPaths()
    settings = adversarial_settings(params)
    config, val_samples = settings.config, settings.val_samples
    run_seed, run_device = seed(params), device(params)
    val_x, val_y = load_split(paths.prepared, "val", rows=val_samples)
    test_x, test_y = load_split(paths.prepared, "test", rows=val_samples)
    scorer = epoch_scorer(
        val_x,
        val_y,
        eps=config.eps,
        norm=config.norm,
        seed=run_seed,
        device=run_device,
    )
    initial = (
        load_trained(paths, FINE_TUNED_FROM, run_device)
        if settings.init == FINE_TUNED_FROM
        else None
    )
    run_training(
        ROLE,
        params,
        architecture=architecture_config(params),
        fit=settings.fit,
        initial=initial,
        perturb=perturbation(config),
        score_epoch=scorer,
        select=ROBUST_KEY,
        more_metrics=lambda run: _robust_record(
            run,
            settings=settings,
            val_images=len(val_x),
            test_x=test_x,
            test_y=test_y,
            run_seed=run_seed,
            run_device=run_device,
        ),
    )
