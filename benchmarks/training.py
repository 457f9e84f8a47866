"""Training throughput against its floor, and the memory of a split larger than memory.

Throughput, for the default prepared data (``data/prepared``: run ``dvc repro split``
first) and for synthetic 64 px RGB images: images per second of

- the floor: the fit loop's own work on images already in memory as float tensors, in the
  same batches (augmentation, forward, backward, optimizer and schedule step);
- ``fit``: the fit loop as the training stages run it, streaming each batch from the
  memory-mapped uint8 array through a DataLoader (``--workers`` worker processes).

Each is timed over ``--epochs`` epochs after one warm-up epoch, ``--repeats`` times
interleaved; the median is kept. The data-loading overhead is floor / fit - 1.

``--memory``: a synthetic prepared folder the size of the full Animals-10 at 224 px RGB
(26,179 training images, 3.94 GB as uint8) is written to ``--scratch``, then one epoch of
``fit`` runs on it with a tiny model (vgg_small, width 2) while a thread samples this
process's resident memory (``/proc/self/status``: anonymous, and file-backed pages of the
memory map, which the kernel may drop at any time). Needs about 4 GB of free disk.

Prints Markdown tables and writes benchmarks/results/training.json.

    python benchmarks/training.py [--epochs 2] [--repeats 3] [--workers 0] [--memory]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from modelrobustness.data.prepared import ScaledImages, load_split_uint8
from modelrobustness.models.classifier import ArchitectureConfig, build_model
from modelrobustness.pipeline.params import load_params
from modelrobustness.pipeline.train import fit_config
from modelrobustness.training.augment import augment_batch
from modelrobustness.training.batches import EpochBatches
from modelrobustness.training.fit import FitConfig, _make_optimizer, _make_scheduler, fit
from modelrobustness.training.train_classifier import model_config_for_data
from modelrobustness.utils.distributed import SINGLE
from modelrobustness.utils.torch import fast_layout

ROOT = Path(__file__).resolve().parents[1]
FULL_ANIMALS10 = 26_179  # photos in Kaggle's animals10 raw-img


def _model(x: np.ndarray, classes: int, width: int = 16):
    names = [str(i) for i in range(classes)]
    config = model_config_for_data(
        ArchitectureConfig(arch="vgg_small", width=width, pretrained="none"),
        class_names=names,
        train_x=x,
    )
    torch.manual_seed(0)
    return build_model(config, pretrained="none")


def floor_seconds(x: np.ndarray, y: np.ndarray, config: FitConfig, epochs: int) -> float:
    """The fit loop's work on in-memory float tensors, same batches: seconds per epoch."""
    model = fast_layout(_model(x, int(y.max()) + 1), "cpu")
    images = torch.from_numpy(np.array(x)).float().div_(255.0)
    targets = torch.from_numpy(np.array(y)).long()
    batches = EpochBatches(len(x), batch_size=config.batch_size, seed=0, ranks=SINGLE)
    optimizer = _make_optimizer(model, config)
    scheduler = _make_scheduler(optimizer, config, (epochs + 1) * len(batches))
    generator = torch.Generator().manual_seed(0)
    model.train()
    start = 0.0
    for epoch in range(epochs + 1):  # the first is the warm-up
        if epoch == 1:
            start = time.perf_counter()
        batches.set_epoch(epoch)
        for rows in batches:
            index = torch.tensor(rows)
            xb = augment_batch(
                images[index],
                crop_padding=config.crop_padding,
                flip=config.flip,
                generator=generator,
            )
            loss = F.cross_entropy(model(xb), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return (time.perf_counter() - start) / epochs


def fit_seconds(x: np.ndarray, y: np.ndarray, config: FitConfig, epochs: int) -> float:
    """``fit`` streaming from the memory map (validation on one image): seconds per epoch,
    the warm-up epoch left out."""
    model = _model(x, int(y.max()) + 1)
    targets = torch.from_numpy(np.array(y)).long()
    config = dataclasses.replace(config, epochs=epochs + 1)
    ends: list[float] = []
    fit(
        model,
        x,
        targets,
        ScaledImages(x[:1]),
        targets[:1],
        config=config,
        seed=0,
        on_epoch_end=lambda epoch, stats: ends.append(time.perf_counter()),
    )
    return (ends[-1] - ends[0]) / epochs


def synthetic(path: Path, n: int, channels: int, size: int, classes: int = 10) -> Path:
    """A prepared-format folder of random uint8 images (train split only) at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = np.lib.format.open_memmap(
        path / "train_x.npy", mode="w+", dtype=np.uint8, shape=(n, channels, size, size)
    )
    for begin in range(0, n, 512):
        x[begin : begin + 512] = rng.integers(0, 256, x[begin : begin + 512].shape, np.uint8)
    x.flush()
    del x
    np.save(path / "train_y.npy", rng.integers(0, classes, n).astype(np.int64))
    return path


def throughput(name: str, x: np.ndarray, y: np.ndarray, args, config: FitConfig) -> dict:
    floors, fits = [], []
    for _ in range(args.repeats):  # interleaved: drift hits both alike
        floors.append(floor_seconds(x, y, config, args.epochs))
        fits.append(fit_seconds(x, y, config, args.epochs))
    floor, streamed = statistics.median(floors), statistics.median(fits)
    return {
        "data": name,
        "images": len(x),
        "shape": list(x.shape[1:]),
        "floor_images_per_second": round(len(x) / floor, 1),
        "fit_images_per_second": round(len(x) / streamed, 1),
        "overhead": round(streamed / floor - 1, 4),
        "floor_seconds": [round(s, 3) for s in floors],
        "fit_seconds": [round(s, 3) for s in fits],
    }


class MemorySampler(threading.Thread):
    """Peak resident memory of this process (kB, from /proc/self/status) every 50 ms."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = dict.fromkeys(self.FIELDS, 0)
        self.running = True

    def sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in self.peak:
                self.peak[name] = max(self.peak[name], int(value.split()[0]))

    def run(self) -> None:
        while self.running:
            self.sample()
            time.sleep(0.05)


def memory(args, config: FitConfig) -> dict:
    with tempfile.TemporaryDirectory(dir=args.scratch) as folder:
        start = time.perf_counter()
        prepared = synthetic(Path(folder), args.memory_images, 3, 224)
        written = time.perf_counter() - start
        x, y = _train_only(prepared)
        model = _model(x[:256], 10, width=2)  # the pixel statistics of a sample suffice
        sampler = MemorySampler()
        sampler.sample()
        before = dict(sampler.peak)
        sampler.peak = dict.fromkeys(sampler.FIELDS, 0)
        sampler.start()
        start = time.perf_counter()
        fit(
            model,
            x,
            torch.from_numpy(y).long(),
            ScaledImages(x[:1]),
            torch.from_numpy(y[:1]).long(),
            config=dataclasses.replace(config, epochs=1),
            seed=0,
        )
        seconds = time.perf_counter() - start
        sampler.running = False
        sampler.join()
        return {
            "images": int(len(x)),
            "array_gb": round(x.nbytes / 1e9, 3),
            "write_seconds": round(written, 1),
            "epoch_seconds": round(seconds, 1),
            "rss_before_mb": round(before["VmRSS"] / 1024, 1),
            "anonymous_before_mb": round(before["RssAnon"] / 1024, 1),
            "peak_rss_mb": round(sampler.peak["VmRSS"] / 1024, 1),
            "peak_anonymous_mb": round(sampler.peak["RssAnon"] / 1024, 1),
            "peak_file_backed_mb": round(sampler.peak["RssFile"] / 1024, 1),
        }


def _train_only(prepared: Path) -> tuple[np.ndarray, np.ndarray]:
    x = np.load(prepared / "train_x.npy", mmap_mode="r", allow_pickle=False)
    return x, np.load(prepared / "train_y.npy", allow_pickle=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--rgb-images", type=int, default=5000)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--resnet", action="store_true")
    parser.add_argument("--memory-images", type=int, default=FULL_ANIMALS10)
    parser.add_argument("--scratch", default=None, help="folder for --memory's 3.9 GB file")
    args = parser.parse_args()
    config = dataclasses.replace(
        fit_config(load_params(ROOT / "params.yaml")), loader_workers=args.workers
    )
    setup = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": config.batch_size,
        "loader_workers": args.workers,
        "memory_limit_mb": _cgroup_limit_mb(),
    }
    if args.resnet:
        r = resnet_rates()
        print(
            f"resnet18_imagenet at 224 px RGB, {torch.get_num_threads()} threads: "
            f"{r['train_images_per_second']} training images/s, "
            f"{r['attack_passes_per_second']} attack passes/s"
        )
        _write("training_resnet.json", {**setup, "resnet": r})
        return
    if args.memory:
        m = memory(args, config)
        print(
            f"{m['images']} images at 224 px RGB ({m['array_gb']} GB uint8), one epoch in "
            f"{m['epoch_seconds']} s: peak resident {m['peak_rss_mb']} MB, of it "
            f"{m['peak_anonymous_mb']} MB anonymous ({m['anonymous_before_mb']} MB before the "
            f"fit) and {m['peak_file_backed_mb']} MB file-backed (libraries and the map's "
            "pages, which the kernel drops under pressure)"
        )
        _write("training_memory.json", {**setup, "memory": m})
        return
    x, y = load_split_uint8(ROOT / "data/prepared", "train")
    rows = [throughput("default (data/prepared)", x, y, args, config)]
    with tempfile.TemporaryDirectory() as folder:
        rgb = _train_only(synthetic(Path(folder), args.rgb_images, 3, 64))
        rows.append(throughput("synthetic 64 px RGB", *rgb, args, config))
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"batch {config.batch_size}, loader_workers {args.workers}\n"
    )
    print("| data | images | floor img/s | fit img/s | data loading adds |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['data']} {r['shape']} | {r['images']} | {r['floor_images_per_second']} "
            f"| {r['fit_images_per_second']} | {100 * r['overhead']:.1f}% |"
        )
    result = {**setup, "epochs": args.epochs, "repeats": args.repeats, "throughput": rows}
    _write("training.json", result)


def resnet_rates(batch: int = 32, rounds: int = 5) -> dict:
    """Images per second of resnet18_imagenet at 224 px RGB: a training step and an attack
    pass (median of ``rounds`` timed calls after one warm-up)."""
    x8 = np.zeros((batch, 3, 224, 224), dtype=np.uint8)
    model = fast_layout(
        build_model(
            model_config_for_data(
                ArchitectureConfig(arch="resnet18_imagenet", width=16, pretrained="none"),
                class_names=[str(i) for i in range(10)],
                train_x=x8,
            )
        ),
        "cpu",
    )
    x = torch.rand(batch, 3, 224, 224)
    y = torch.randint(0, 10, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step() -> None:
        model.train()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def attack_pass() -> None:
        model.eval()
        xa = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xa), y), xa)

    out = {}
    for name, call in (
        ("train_images_per_second", train_step),
        ("attack_passes_per_second", attack_pass),
    ):
        call()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        out[name] = round(batch / statistics.median(times), 2)
    return {"arch": "resnet18_imagenet", "image": [3, 224, 224], "batch": batch, **out}


def _cgroup_limit_mb() -> float | None:
    """This process's cgroup memory limit (v1 or v2), if one is set."""
    for path in ("/sys/fs/cgroup/memory.max", "/proc/self/cgroup"):
        if path.endswith("memory.max") and Path(path).is_file():
            value = Path(path).read_text().strip()
            return None if value == "max" else round(int(value) / 2**20, 1)
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, group = line.split(":", 2)
        limit = Path("/sys/fs/cgroup/memory") / group.lstrip("/") / "memory.limit_in_bytes"
        if "memory" in controllers.split(",") and limit.is_file():
            value = int(limit.read_text())
            return None if value >= 2**62 else round(value / 2**20, 1)
    return None


def _write(name: str, result: dict) -> None:
    out = ROOT / "benchmarks/results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
