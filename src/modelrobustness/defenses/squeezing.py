"""Feature squeezing (Xu, Evans & Qi 2018, "Feature Squeezing: Detecting Adversarial Examples
in Deep Neural Networks"): squeezers, and a detector that flags inputs whose prediction moves
too much when squeezed (Sec. 4: score = max over squeezers of the L1 distance between the
softmax outputs on the original and the squeezed input).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..utils.checks import Integer, InvalidValue, check_fraction, check_int
from ..utils.torch import eval_mode

Squeezer = Callable[[torch.Tensor], torch.Tensor]


def bit_depth(x: torch.Tensor, *, bits: int) -> torch.Tensor:
    """Reduce to ``bits`` bits per channel (Sec. 3.1): round(x (2^b - 1)) / (2^b - 1).

    Rounds half to even, as ``np.rint`` does.
    """
    if not 1 <= bits <= 8:
        raise InvalidValue("bits", bits, "an integer from 1 to 8")
    levels = 2**bits - 1
    return torch.round(x * levels) / levels


def median_filter(x: torch.Tensor, *, size: int) -> torch.Tensor:
    """Median over a ``size`` x ``size`` window per channel (Sec. 3.2), like
    ``scipy.ndimage.median_filter(size=size, mode="nearest")``: edges repeat the nearest
    pixel; for an even size the window reaches one pixel further up/left and the median is
    the upper of the two middle values."""
    check_int("size", size)
    if size == 1:
        return x.clone()
    before, after = size // 2, size - 1 - size // 2
    padded = F.pad(x, (before, after, before, after), mode="replicate")
    patches = padded.unfold(2, size, 1).unfold(3, size, 1)  # N C H W k k
    values = patches.reshape(*patches.shape[:4], size * size)
    return values.sort(dim=-1).values[..., (size * size) // 2]


def resample(x: torch.Tensor, *, factor: int) -> torch.Tensor:
    """Down-sample by ``factor`` and back up, both bilinear: keeps the shape, drops detail."""
    check_int("factor", factor, minimum=2)
    h, w = x.shape[-2:]
    small = F.interpolate(
        x, size=(max(1, h // factor), max(1, w // factor)), mode="bilinear", align_corners=False
    )
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def threshold_at_fpr(clean_scores: np.ndarray, fpr: float) -> float:
    """The smallest threshold with at most a ``fpr`` share of clean scores above it."""
    check_fraction("fpr", fpr, closed_low=True)
    ordered = np.sort(np.asarray(clean_scores, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("calibrating a threshold needs at least one clean score")
    allowed = int(np.floor(fpr * ordered.size))  # clean images we may flag
    return float(ordered[ordered.size - 1 - allowed])


SQUEEZERS: dict[str, Callable[[int], Squeezer]] = {
    "bit_depth": lambda n: functools.partial(bit_depth, bits=n),
    "median": lambda n: functools.partial(median_filter, size=n),
    "resample": lambda n: functools.partial(resample, factor=n),
}


# each squeezer's integer argument: bits per channel, median window side, resampling factor
SQUEEZER_ARGUMENTS: dict[str, Integer] = {
    "bit_depth": Integer(minimum=1, maximum=8),
    "median": Integer(minimum=1, maximum=64),
    "resample": Integer(minimum=2, maximum=64),
}
SQUEEZER_SPECS = "one of " + ", ".join(
    f"{name}:<{rule.minimum}..{rule.maximum}>" for name, rule in SQUEEZER_ARGUMENTS.items()
)


def parse_squeezer(spec: str) -> Squeezer:
    """``"bit_depth:1"``, ``"median:2"``, ``"resample:2"`` -> the squeezer function; the
    argument's range is checked here, so a bad spec fails before anything runs."""
    name, _, value = str(spec).partition(":") if isinstance(spec, str) else ("", "", "")
    if name not in SQUEEZERS or not (value.isascii() and value.isdigit()):
        raise InvalidValue("squeezer", spec, SQUEEZER_SPECS)
    try:
        argument = SQUEEZER_ARGUMENTS[name]("squeezer", int(value))
    except InvalidValue:
        raise InvalidValue("squeezer", spec, SQUEEZER_SPECS) from None
    return SQUEEZERS[name](argument)


def _straight_through(squeezer: Squeezer, x: torch.Tensor) -> torch.Tensor:
    """squeezer(x) forward, identity backward (BPDA, Athalye et al. 2018, Sec. 4.1)."""
    return x + (squeezer(x) - x).detach()


def straight_through_score(
    model: nn.Module, squeezers: Sequence[Squeezer], x: torch.Tensor, logits: torch.Tensor
) -> torch.Tensor:
    """The detector score (Sec. 4) made differentiable for an adaptive attacker: each
    squeezer passes the gradient straight through. ``logits`` are ``model(x)``. Per-sample
    values in [0, 2]."""
    p = logits.softmax(dim=1)
    distances = [
        (p - model(_straight_through(s, x)).softmax(dim=1)).abs().sum(dim=1) for s in squeezers
    ]
    return torch.stack(distances, dim=1).amax(dim=1)


class SqueezeDetector:
    """Flags inputs whose softmax moves (L1) by more than a threshold under any squeezer."""

    def __init__(
        self,
        model: nn.Module,
        squeezers: Sequence[str],
        *,
        threshold: float | None = None,
        batch_size: int = 500,
    ) -> None:
        if not squeezers:
            raise ValueError("SqueezeDetector needs at least one squeezer")
        self.model = model
        self.squeezer_names = [str(s) for s in squeezers]
        self.squeezers = [parse_squeezer(s) for s in self.squeezer_names]
        self.threshold = threshold
        self.batch_size = batch_size

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def scores_per_squeezer(self, x: torch.Tensor) -> torch.Tensor:
        """N x S matrix of L1 distances ||softmax(f(x)) - softmax(f(s(x)))||_1 in [0, 2]."""
        out = []
        device = self._device()
        with eval_mode(self.model):
            for i in range(0, len(x), self.batch_size):
                xb = x[i : i + self.batch_size].to(device)
                p = self.model(xb).softmax(dim=1)
                cols = [
                    (p - self.model(s(xb)).softmax(dim=1)).abs().sum(dim=1) for s in self.squeezers
                ]
                out.append(torch.stack(cols, dim=1).cpu())
        if not out:
            return torch.zeros(0, len(self.squeezers))
        return torch.cat(out).clamp(0.0, 2.0)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The detector score: the maximum over squeezers (Xu et al. Sec. 4)."""
        return self.scores_per_squeezer(x).amax(dim=1)

    def fit_threshold(self, clean_x: torch.Tensor, *, fpr: float = 0.05) -> float:
        """Pick the threshold flagging at most ``fpr`` of ``clean_x`` (clean images only).

        The threshold is the smallest clean score with at most a ``fpr`` share of clean
        scores strictly above it (Xu et al.'s rule: calibrate on legitimate examples).
        """
        self.threshold = threshold_at_fpr(self.score(clean_x).numpy(), fpr)
        return self.threshold

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """True where ``x`` is flagged as adversarial (score above the threshold)."""
        return self.flags(self.score(x))

    def flags(self, scores: torch.Tensor) -> torch.Tensor:
        """True where ``scores`` (of :meth:`score`) are above the threshold."""
        if self.threshold is None:
            raise ValueError("no threshold: call fit_threshold() or pass threshold=")
        return scores > self.threshold
