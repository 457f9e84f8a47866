"""The training data path: memory-mapped splits, the per-epoch batch order shared out among
processes, the exact channel statistics and the GPU options' plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modelrobustness.data import domain
from modelrobustness.data.prepared import ScaledImages, load_split, load_split_uint8
from modelrobustness.training.batches import EpochBatches, RowReader, batch_loader
from modelrobustness.training.fit import process_seed
from modelrobustness.training.gpu import gpu_plan
from modelrobustness.training.train_classifier import channel_stats
from modelrobustness.utils.distributed import Ranks, shard_bounds, shard_sizes
from modelrobustness.utils.processes import sharing_workers, threads_per_process


def _batches(rows: int, batch_size: int, world: int, epoch: int, seed: int = 0):
    out = []
    for rank in range(world):
        batches = EpochBatches(rows, batch_size=batch_size, seed=seed, ranks=Ranks(rank, world))
        batches.set_epoch(epoch)
        out.append((batches, list(batches)))
    return out


@pytest.mark.parametrize("rows", [1, 31, 32, 97, 100])
def test_the_processes_step_through_one_global_order_each_row_counted_once(rows):
    single = _batches(rows, 16, 1, epoch=3)[0][1]
    shared = _batches(rows, 16, 2, epoch=3)
    assert len(shared[0][1]) == len(shared[1][1])  # as many steps on every process
    counted = []
    for step in range(len(shared[0][1])):
        for batches, lists in shared:
            batch = lists[step]
            assert len(batch) == len(shared[0][1][step]) <= 8  # equal shares of each step
            valid = batches.valid(step, len(batch))
            counted += [row for row, ok in zip(batch, valid.tolist(), strict=True) if ok]
    assert sorted(counted) == list(range(rows))  # every row once, padding left out
    # one process sees the same permutation, in the same global batches
    flat = [row for batch in single for row in batch]
    assert sorted(flat) == list(range(rows)) and len(single) == -(-rows // 16)
    interleaved = [
        shared[r][1][step][i]
        for step in range(len(shared[0][1]))
        for i in range(len(shared[0][1][step]))
        for r in (0, 1)
    ]
    assert interleaved[:rows] == flat


def test_the_order_is_seeded_per_epoch():
    first, again = _batches(50, 10, 1, epoch=1)[0][1], _batches(50, 10, 1, epoch=1)[0][1]
    assert first == again
    assert _batches(50, 10, 1, epoch=2)[0][1] != first
    assert _batches(50, 10, 1, epoch=1, seed=1)[0][1] != first
    assert process_seed(42, 0) == 42 and len({process_seed(42, r) for r in range(4)}) == 4


def test_a_batch_the_processes_cannot_share_is_refused():
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        EpochBatches(10, batch_size=8, seed=0, ranks=Ranks(0, 3))


def test_shards_follow_tensor_split():
    for total, world in [(10, 3), (2, 4), (39, 2)]:
        sizes = [len(p) for p in torch.arange(total).tensor_split(world)]
        assert shard_sizes(total, world) == sizes
        assert [shard_bounds(total, Ranks(r, world)) for r in range(world)] == [
            (sum(sizes[:r]), sum(sizes[: r + 1])) for r in range(world)
        ]


def _prepared(tmp_path, n=40):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 3, 6, 6), dtype=np.uint8)
    y = rng.integers(0, 4, n).astype(np.int64)
    for split in ("train", "val", "test"):
        np.save(tmp_path / f"{split}_x.npy", x)
        np.save(tmp_path / f"{split}_y.npy", y)
    return x, y


def test_splits_are_memory_mapped_and_read_by_rows(tmp_path):
    x, y = _prepared(tmp_path)
    mapped, labels = load_split_uint8(tmp_path, "train")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    images = ScaledImages(mapped)
    full = torch.from_numpy(x).float() / 255
    assert len(images) == 40 and images.shape == (40, 3, 6, 6)
    assert torch.equal(images[:], full)
    assert torch.equal(images[torch.tensor([5, 1, 5])], full[[5, 1, 5]])
    first, first_y = load_split(tmp_path, "val", rows=7)
    assert torch.equal(first, full[:7]) and torch.equal(first_y, torch.from_numpy(y[:7]))
    loader = batch_loader(
        RowReader(mapped, torch.from_numpy(y)),
        EpochBatches(40, batch_size=16, seed=0, ranks=Ranks()),
        workers=0,
        device=torch.device("cpu"),
    )
    seen = torch.cat([rows for rows, _ in loader])
    assert seen.dtype == torch.uint8 and sorted(seen.flatten(1).sum(1).tolist()) == sorted(
        torch.from_numpy(x).flatten(1).sum(1).tolist()
    )


def test_channel_stats_are_exact_whatever_the_chunk(monkeypatch):
    x = np.random.default_rng(1).integers(0, 256, (50, 3, 5, 5), dtype=np.uint8)
    reference = torch.from_numpy(x).double().div(255).transpose(0, 1).reshape(3, -1)
    mean, std = channel_stats(x)
    assert mean == pytest.approx(reference.mean(1).tolist(), abs=1e-12)
    assert std == pytest.approx(reference.std(1).tolist(), abs=1e-12)
    from modelrobustness.training import train_classifier

    monkeypatch.setattr(train_classifier, "STATS_CHUNK", 7)
    assert channel_stats(x) == (mean, std)


def test_the_domain_profile_does_not_depend_on_the_chunk(monkeypatch):
    x = np.random.default_rng(2).integers(0, 256, (30, 1, 4, 4), dtype=np.uint8)
    sources = [domain.SourceFacts(4, 4, False)] * 30
    whole = domain.domain_profile(x, sources)
    monkeypatch.setattr(domain, "CHUNK", 4)
    assert domain.domain_profile(x, sources) == whole


def test_gpu_options_apply_on_cuda_only():
    cpu = gpu_plan(precision="fp16", channels_last=True, compile=True, device=torch.device("cpu"))
    assert cpu.autocast_dtype is None and not cpu.scaled and not cpu.compiled
    assert cpu.ignored == ("precision=fp16", "channels_last", "compile")
    assert (
        gpu_plan(
            precision="fp32", channels_last=False, compile=False, device=torch.device("cpu")
        ).ignored
        == ()
    )
    cuda = torch.device("cuda")
    fp16 = gpu_plan(precision="fp16", channels_last=True, compile=False, device=cuda)
    assert fp16.autocast_dtype == torch.float16 and fp16.scaled and fp16.channels_last
    bf16 = gpu_plan(precision="bf16", channels_last=False, compile=True, device=cuda)
    assert bf16.autocast_dtype == torch.bfloat16 and not bf16.scaled and bf16.compiled


def test_threads_are_shared_among_processes_and_queue_workers():
    assert threads_per_process(1, cores=8) == 8
    assert threads_per_process(2, cores=8, workers=2) == 2
    assert threads_per_process(4, cores=2) == 1
    assert sharing_workers({}) == 1 and sharing_workers({"MODELROBUSTNESS_WORKERS": "3"}) == 3
    with pytest.raises(Exception, match="MODELROBUSTNESS_WORKERS='two': expected a positive"):
        sharing_workers({"MODELROBUSTNESS_WORKERS": "two"})


def test_a_stage_takes_its_share_of_the_cores_under_queue_workers(monkeypatch):
    """`MODELROBUSTNESS_WORKERS=N dvc queue start -j N`: each stage process sets torch's
    threads to cores / N (here 2 cores, 2 workers: one thread each)."""
    from modelrobustness.pipeline import entry, launch

    seen = []
    before = torch.get_num_threads()
    monkeypatch.setattr(
        launch, "threads_per_process", lambda nproc, workers: 8 // (nproc * workers)
    )
    monkeypatch.setenv("MODELROBUSTNESS_WORKERS", "4")
    try:
        entry.run_stage("probe", lambda: seen.append(torch.get_num_threads()))
    finally:
        torch.set_num_threads(before)
    assert seen == [2]
    monkeypatch.setenv("MODELROBUSTNESS_WORKERS", "0")
    with pytest.raises(SystemExit) as stopped:
        entry.run_stage("probe", lambda: seen.append("ran"))
    assert stopped.value.code == entry.USER_ERROR_STATUS and seen == [2]


def test_attacks_keep_fp32_unless_asked_and_only_on_cuda(capsys):
    """attack.precision: fp32 leaves the model alone; bf16 or fp16 wraps it in autocast on
    CUDA (checked here with CPU autocast, which torch also has) and is ignored elsewhere."""
    from modelrobustness.pipeline.attack_stage import in_precision
    from modelrobustness.utils.torch import Autocast

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    cpu = torch.device("cpu")
    assert in_precision(model, "fp32", cpu) is model
    assert in_precision(model, "bf16", cpu) is model
    assert "attack.precision=bf16 applies on CUDA only; ignored on cpu" in capsys.readouterr().err
    assert isinstance(in_precision(model, "fp16", torch.device("cuda")), Autocast)
    wrapped = Autocast(model, dtype=torch.bfloat16, device_type="cpu")
    x = torch.rand(4, 3, 2, 2, requires_grad=True)
    logits = wrapped(x)
    (grad,) = torch.autograd.grad(logits.sum(), x)
    assert logits.dtype == torch.float32 and grad.shape == x.shape
    assert not torch.equal(logits, model(x))  # bf16 kernels ran


def test_loader_workers_change_no_result(tmp_path):
    """train.loader_workers only moves the reading of batches to other processes: the same
    rows in the same order, so the same weights (and it is no DVC dependency)."""
    import yaml

    from modelrobustness.training.fit import fit

    from helpers.configs import fit_config
    from helpers.imports import ROOT

    x, y = _prepared(tmp_path, n=48)
    labels = torch.from_numpy(y)
    weights = []
    for workers in (0, 1):
        model = _model_for(x)
        config = fit_config(epochs=2, batch_size=16, loader_workers=workers)
        fit(model, x, labels, ScaledImages(x[:8]), labels[:8], config=config, seed=0)
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    read = {key for stage in stages.values() for key in stage.get("params", [])}
    assert "train" not in read and "train.loader_workers" not in read
    assert "attack" not in read and "attack.nproc" not in read  # attack.nproc: likewise


def _model_for(x):
    from modelrobustness.models.classifier import ArchitectureConfig, build_model
    from modelrobustness.training.train_classifier import model_config_for_data

    torch.manual_seed(0)
    config = model_config_for_data(
        ArchitectureConfig(arch="vgg_small", width=4, pretrained="none"),
        class_names=["a", "b", "c", "d"],
        train_x=x,
    )
    return build_model(config)


def test_a_checkpoint_survives_a_change_of_loader_workers_only(tmp_path):
    """The resumption key leaves out the keys no result depends on, and only those."""
    import copy

    from modelrobustness.pipeline.checkpoints import resumption
    from modelrobustness.pipeline.paths import ProjectPaths

    from helpers.configs import params

    paths = ProjectPaths(tmp_path)
    (tmp_path / "data/prepared").mkdir(parents=True)
    base = params()
    key = resumption("baseline", base, paths=paths, device=torch.device("cpu")).key
    changed = copy.deepcopy(base)
    changed["train"]["loader_workers"] = 4
    changed["attack"]["nproc"] = 3
    assert resumption("baseline", changed, paths=paths, device=torch.device("cpu")).key == key
    changed["train"]["nproc"] = 2  # this one changes the model
    assert resumption("baseline", changed, paths=paths, device=torch.device("cpu")).key != key
