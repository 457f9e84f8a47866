"""``modelrobustness attack IMAGE --attack pgd|ddn --out adv.png``: an adversarial version
of one image, written as the 8-bit image the model sees."""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..pipeline.params import ParamsError
from ..pipeline.paths import ProjectPaths
from .project import (
    CLIError,
    load_classifier,
    load_user_image,
    prediction,
    project_device,
    project_params,
    text_table,
)

if TYPE_CHECKING:
    import torch


def _check_options(args: argparse.Namespace) -> None:
    if Path(args.out).suffix.lower() != ".png":
        raise CLIError(f"--out {args.out}: the adversarial image is written as PNG (lossless); "
                       "give a .png path")
    if args.eps is not None and not args.eps > 0:
        raise CLIError(f"--eps is {args.eps}; expected a number > 0")
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps is {args.steps}; expected at least 1")


def _attack_fn(args: argparse.Namespace, params: dict[str, Any], paths: ProjectPaths
               ) -> tuple[Callable[..., torch.Tensor], str | None, float | None]:
    """The attack with its settings from params.yaml (``attack.pgd`` / ``attack.ddn``),
    options applied, and the norm and budget the written 8-bit image must respect (PGD) or
    None (DDN)."""
    import torch

    from ..attacks import ddn, pgd
    from ..pipeline.attack_ddn import ddn_config
    from ..pipeline.attack_pgd import pgd_config
    from ..pipeline.params import seed

    try:
        run_seed = args.seed if args.seed is not None else seed(params)
        config = pgd_config(params) if args.attack == "pgd" else ddn_config(params)
    except ParamsError as exc:
        raise CLIError(f"{paths.params}: {exc}") from None
    if args.attack == "pgd":
        eps = float(args.eps if args.eps is not None else config.eps)
        norm = config.norm
        if norm == "linf":  # the written image is on the 8-bit grid: so is its budget
            eps = math.floor(eps * 255 + 1e-6) / 255
            if eps == 0:
                raise CLIError("--eps is below one grey level (1/255): nothing can change")
        # the step size scales with eps, as on the pipeline's robustness curve; all steps
        # (no early stop): the result lies deeper inside the adversarial region, so rounding
        # it to 8 bits does not undo it
        options = {**config.attack_options(loss="margin", eps=eps), "early_stop": False}
        attack: Callable[..., torch.Tensor] = pgd
    else:
        norm, eps = None, None
        options = config.attack_options()
        attack = ddn
    if args.steps is not None:
        options["steps"] = args.steps
    return functools.partial(attack, **options,
                             generator=torch.Generator().manual_seed(run_seed)), norm, eps


def cmd_attack(args: argparse.Namespace) -> int:
    _check_options(args)  # bad options fail before anything loads
    paths = ProjectPaths(Path(args.project))
    params = project_params(paths)
    attack, norm, eps = _attack_fn(args, params, paths)

    import torch

    from ..data.images import UnreadableImage
    from .images import quantize_within, save_png

    device = project_device(paths, args.device)
    model = load_classifier(paths, args.model, device)
    try:
        x = load_user_image(args.image, model, params)
    except UnreadableImage as exc:
        raise CLIError(str(exc)) from None
    names = list(model.config.class_names)
    before, before_conf = prediction(model, x)
    label = args.label or before
    if label not in names:
        raise CLIError(f"--label {label!r} is not a class of this model; expected one of "
                       f"{', '.join(names)}")
    x_adv = attack(model, x.to(device), torch.tensor([names.index(label)], device=device))
    x_adv = quantize_within(x_adv.cpu(), x, linf_budget=eps if norm == "linf" else None)
    save_png(args.out, x_adv)
    after, after_conf = prediction(model, x_adv)
    delta = (x_adv - x).flatten()
    print(f"{args.attack.upper()} on {args.model}, attacking the label {label!r}"
          f"{' (the clean prediction)' if not args.label else ''}")
    print(text_table(["", "class", "confidence"],
                     [["before", before, f"{before_conf:.4f}"],
                      ["after", after, f"{after_conf:.4f}"]]))
    print(f"perturbation: L-inf {float(delta.abs().max()):.4f} "
          f"({round(float(delta.abs().max()) * 255)} grey levels), "
          f"L2 {float(delta.norm()):.4f} ([0, 1] pixel units, "
          f"{x.shape[-1]}x{x.shape[-2]} image)")
    if before != label:
        verdict = f"already misclassified before the attack (true class {label!r})"
    else:
        verdict = "fooled" if after != label else "not fooled: the prediction did not change"
    print(f"{verdict}; wrote {args.out} "
          f"(the {x.shape[-1]}x{x.shape[-2]} image the model sees, 8-bit)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    attack = sub.add_parser(
        "attack", help="write an adversarial version of an image",
        description="Attack one image with PGD (margin loss, settings from params.yaml "
                    "attack.pgd) or DDN (attack.ddn); print the predictions before and after "
                    "and the perturbation's norms. The output is the model-sized 8-bit "
                    "image; PGD's result is rounded without leaving the eps-ball.")
    attack.add_argument("image", metavar="IMAGE")
    attack.add_argument("--attack", required=True, choices=["pgd", "ddn"])
    attack.add_argument("--out", required=True, metavar="PNG", help="where to write the image")
    attack.add_argument("--model", default="baseline",
                        help="baseline (default), teacher, student or a checkpoint path")
    attack.add_argument("--label", help="true class (default: the model's clean prediction)")
    attack.add_argument("--eps", type=float, help="PGD budget (default: attack.pgd.eps)")
    attack.add_argument("--steps", type=int, help="iterations (default: from params.yaml)")
    attack.add_argument("--seed", type=int, help="random start seed (default: seed)")
    attack.set_defaults(run=cmd_attack)
