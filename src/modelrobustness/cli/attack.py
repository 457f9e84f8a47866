"""``modelrobustness attack IMAGE --attack pgd|ddn --out adv.png``: an adversarial version
of one image, written as the 8-bit image the model sees."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..pipeline.params import ParamsError
from ..pipeline.paths import ProjectPaths
from ..utils.checks import SEED, InvalidValue
from .project import (
    CLIError,
    image_limits,
    load_classifier,
    prediction,
    project_device,
    project_params,
    read_user_image,
    text_table,
)

if TYPE_CHECKING:
    import torch


def check_output(out: str, image: str, *, force: bool) -> Path:
    """``--out``: a .png path in an existing folder that is not the input image, and not an
    existing file unless ``force``."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise CLIError(
            f"--out {out}: the adversarial image is written as PNG (lossless); give a .png path"
        )
    if path.is_dir():
        raise CLIError(f"--out {out} is a folder; give the path of a .png file")
    if not path.parent.is_dir():
        raise CLIError(f"--out {out}: the folder {path.parent} does not exist")
    source = Path(image)
    if path.exists() and source.exists() and os.path.samefile(path, source):
        raise CLIError(
            f"--out {out} is the input image; the input is never overwritten, give another path"
        )
    if (path.exists() or path.is_symlink()) and not force:
        raise CLIError(f"--out {out} exists; pass --force to replace it")
    return path


def _check_options(args: argparse.Namespace) -> None:
    """What can be checked before anything loads."""
    check_output(args.out, args.image, force=args.force)
    if args.eps is not None and args.attack == "ddn":
        raise CLIError(
            "--eps applies to PGD only: DDN looks for the smallest perturbation "
            "itself (its settings are attack.ddn in params.yaml)"
        )
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps is {args.steps}; expected at least 1")
    if args.seed is not None:
        try:
            SEED("--seed", args.seed)
        except InvalidValue as exc:
            raise CLIError(str(exc)) from None


def _attack_fn(
    args: argparse.Namespace, params: dict[str, Any], paths: ProjectPaths
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
        eps, norm = config.eps, config.norm
        if args.eps is not None:  # the same rules as attack.pgd.eps
            try:
                eps = dataclasses.replace(config, eps=args.eps).eps
            except InvalidValue as exc:
                raise CLIError(f"--eps is {args.eps}; expected {exc.expected}") from None
        if norm == "linf":  # the written image is on the 8-bit grid: so is its budget
            asked, eps = eps, math.floor(eps * 255 + 1e-6) / 255
            if eps == 0:
                source = "--eps" if args.eps is not None else f"{paths.params}: attack.pgd.eps"
                raise CLIError(
                    f"{source} is {asked:g}, below one grey level (1/255): nothing can change"
                )
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
    return (
        functools.partial(attack, **options, generator=torch.Generator().manual_seed(run_seed)),
        norm,
        eps,
    )


def cmd_attack(args: argparse.Namespace) -> int:
    _check_options(args)  # bad options fail before anything loads
    paths = ProjectPaths(Path(args.project))
    params = project_params(paths)
    limits = image_limits(paths, params)
    attack, norm, eps = _attack_fn(args, params, paths)

    import torch

    from .images import quantize_within, save_png

    device = project_device(paths, args.device)
    model = load_classifier(paths, args.model, device)
    x, _ = read_user_image(args.image, model, limits)
    network = model.network
    names = list(network.config.class_names)
    before, before_conf = prediction(network, x)
    label = args.label or before
    if label not in names:
        raise CLIError(
            f"--label {label!r} is not a class of this model; expected one of {', '.join(names)}"
        )
    x_adv = attack(network, x.to(device), torch.tensor([names.index(label)], device=device))
    x_adv = quantize_within(x_adv.cpu(), x, linf_budget=eps if norm == "linf" else None)
    out = check_output(args.out, args.image, force=args.force)  # again: the attack took time
    save_png(out, x_adv)
    after, after_conf = prediction(network, x_adv)
    delta = (x_adv - x).flatten()
    print(
        f"{args.attack.upper()} on {args.model}, attacking the label {label!r}"
        f"{' (the clean prediction)' if not args.label else ''}"
    )
    print(
        text_table(
            ["", "class", "confidence"],
            [["before", before, f"{before_conf:.4f}"], ["after", after, f"{after_conf:.4f}"]],
        )
    )
    print(
        f"perturbation: L-inf {float(delta.abs().max()):.4f} "
        f"({round(float(delta.abs().max()) * 255)} grey levels), "
        f"L2 {float(delta.norm()):.4f} ([0, 1] pixel units, "
        f"{x.shape[-1]}x{x.shape[-2]} image)"
    )
    if before != label:
        verdict = f"already misclassified before the attack (true class {label!r})"
    else:
        verdict = "fooled" if after != label else "not fooled: the prediction did not change"
    print(
        f"{verdict}; wrote {args.out} (the {x.shape[-1]}x{x.shape[-2]} image the model sees, 8-bit)"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    attack = sub.add_parser(
        "attack",
        parents=list(parents),
        help="write an adversarial version of an image",
        description="Attack one image with PGD (margin loss, settings from params.yaml "
        "attack.pgd) or DDN (attack.ddn); print the predictions before and after "
        "and the perturbation's norms. The output is the model-sized 8-bit "
        "image; PGD's result is rounded without leaving the eps-ball.",
    )
    attack.add_argument("image", metavar="IMAGE")
    attack.add_argument("--attack", required=True, choices=["pgd", "ddn"])
    attack.add_argument("--out", required=True, metavar="PNG", help="where to write the image")
    attack.add_argument(
        "--model",
        default="baseline",
        help="baseline (default), teacher, student, adversarial or a checkpoint path",
    )
    attack.add_argument("--label", help="true class (default: the model's clean prediction)")
    attack.add_argument(
        "--eps", type=float, help="PGD budget in [0, 1] pixel units (default: attack.pgd.eps)"
    )
    attack.add_argument("--steps", type=int, help="iterations (default: from params.yaml)")
    attack.add_argument("--seed", type=int, help="random start seed (default: seed)")
    attack.add_argument(
        "--force",
        action="store_true",
        help="replace --out if it exists (the input image is never replaced)",
    )
    attack.set_defaults(run=cmd_attack)
