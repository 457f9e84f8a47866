"""Pictures for people: example grids of adversarial images, detector score histograms."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .files import atomic_write_bytes  # noqa: E402


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 80) -> None:
    """Write ``fig`` as a PNG atomically and close it. No software tag or timestamp in the
    file, so equal inputs give equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _as_image(t: torch.Tensor):
    array = t.detach().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def example_grid(path: str | os.PathLike, x: torch.Tensor, x_adv: torch.Tensor,
                 labels: torch.Tensor, clean_pred: torch.Tensor, adv_pred: torch.Tensor,
                 class_names: Sequence[str], *, title: str, rows: int = 6) -> None:
    """A PNG with one row per example: clean | perturbation (amplified) | adversarial.

    The perturbation is shown as 0.5 + delta / (2 max|delta|), so grey means unchanged.
    Titles carry the true label and each prediction. Written atomically; no timestamp in
    the file, so equal inputs give equal bytes.
    """
    rows = max(1, min(rows, len(x)))
    gray = x.shape[1] == 1
    cmap = "gray" if gray else None
    fig, axes = plt.subplots(rows, 3, figsize=(6.6, 2.2 * rows), squeeze=False)
    for r in range(rows):
        delta = x_adv[r] - x[r]
        scale = float(delta.abs().max())
        shown = 0.5 + delta / (2 * scale) if scale > 0 else torch.full_like(delta, 0.5)
        panels = [
            (x[r], f"clean: {class_names[int(clean_pred[r])]}\n"
                   f"(true {class_names[int(labels[r])]})"),
            (shown, f"perturbation\nLinf {float(delta.abs().max()):.3f}, "
                    f"L2 {float(delta.norm()):.3f}"),
            (x_adv[r], f"adversarial: {class_names[int(adv_pred[r])]}"),
        ]
        for c, (image, text) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(_as_image(image), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(text, fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def pick_examples(success: torch.Tensor, rows: int = 6) -> torch.Tensor:
    """Indices of the first successful examples (the first samples when none succeeded)."""
    chosen = success.nonzero().squeeze(1)[:rows]
    return chosen if chosen.numel() else torch.arange(min(rows, len(success)))


def score_histogram(scores: dict[str, torch.Tensor], *, bins: int = 40) -> list[dict]:
    """Share of each set's detector scores per bin of [0, 2] (rows: bin centre, one column
    per set)."""
    edges = torch.linspace(0.0, 2.0, bins + 1)
    rows = [{"score": round(float((edges[i] + edges[i + 1]) / 2), 4)} for i in range(bins)]
    for name, values in scores.items():
        counts = torch.histc(values.float().clamp(0, 2), bins=bins, min=0.0, max=2.0)
        shares = counts / max(len(values), 1)
        for row, share in zip(rows, shares.tolist(), strict=True):
            row[name] = round(share, 6)
    return rows


def score_histogram_png(path: str | os.PathLike, scores: dict[str, torch.Tensor], *,
                        thresholds: dict[str, float], title: str) -> None:
    """Overlaid histograms of detector scores with the thresholds as vertical lines."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bins = torch.linspace(0, 2, 41).numpy()
    for name, values in scores.items():
        if len(values):
            ax.hist(values.numpy(), bins=bins, alpha=0.5, density=True,
                    label=f"{name} ({len(values)})")
    for name, value in thresholds.items():
        ax.axvline(value, linestyle="--", color="black" if "calibrated" in name else "grey",
                   label=f"{name} {value:.3f}")
    ax.set_xlabel("detector score (max L1 distance of softmax outputs)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
