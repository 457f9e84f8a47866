"""A copy of the project in a temporary git repository, with tiny parameters, for tests that
run DVC or the command line on real pipeline outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_PREFIXES = ("metrics/", "plots/", "reports/", "dvc.lock", "dvc_plots/")


def env() -> dict[str, str]:
    """The environment of a DVC or CLI subprocess: this venv first, no network calls."""
    out = dict(os.environ)
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    out.update(
        DVC_NO_ANALYTICS="1",
        DVC_STUDIO_OFFLINE="1",
        GIT_AUTHOR_NAME="e2e",
        GIT_AUTHOR_EMAIL="e2e@example.invalid",
        GIT_COMMITTER_NAME="e2e",
        GIT_COMMITTER_EMAIL="e2e@example.invalid",
        # one torch thread per stage: the tests run up to three torch processes at once on
        # two cores (two tiny repos beside the other xdist worker), where a second thread
        # per process only adds contention
        OMP_NUM_THREADS="1",
    )
    return out


def run(repo: Path, *args: str) -> str:
    """Run a command in ``repo``; fail the test with its output when it fails."""
    result = subprocess.run(args, cwd=repo, env=env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def run_together(repos: list[Path], *args: str) -> list[str]:
    """Run the same command in each repo at the same time; their outputs, in order."""
    processes = [
        subprocess.Popen(
            args, cwd=repo, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for repo in repos
    ]
    outputs = [process.communicate()[0] for process in processes]
    for repo, process, output in zip(repos, processes, outputs, strict=True):
        assert process.returncode == 0, f"{' '.join(args)} failed in {repo}:\n{output}"
    return outputs


# what a run writes, compared byte for byte between runs (timing keys live in
# metrics/timing/, the only part that may differ)
SNAPSHOT_FOLDERS = ("metrics", "plots", "reports")


def output_snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of the pipeline's git-tracked outputs and dvc.lock (path -> bytes),
    without the timing records."""
    files = [
        p
        for folder in SNAPSHOT_FOLDERS
        for p in (repo / folder).rglob("*")
        if p.is_file() and "timing" not in p.relative_to(repo).parts
    ]
    files.append(repo / "dvc.lock")
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(files)}


def _project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        f
        for f in out.splitlines()
        if f and not f.startswith(OUTPUT_PREFIXES) and (ROOT / f).is_file()
    ]


def make_tiny_repo(repo: Path) -> Path:
    """The project's source files (no pipeline outputs) in a new git repo at ``repo``, with
    parameters small enough for the whole pipeline to run in about half a minute."""
    for name in _project_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["split"]["max_per_class"] = 40
    params["model"]["width"] = 8
    params["train"]["epochs"] = 3
    params["train"]["batch_size"] = 32
    params["attack"]["samples"] = 20
    params["attack"]["batch_size"] = 8
    # 5 steps of 2.5 eps / 5 (Madry's rule) reach the budget's edge: the default step size
    # would leave the attack too weak to fool any image on some machines' tiny models
    params["attack"]["pgd"].update(steps=5, step_size=0.05, eps_list=[0.05, 0.1])
    params["attack"]["ddn"]["steps"] = 10
    params["attack"]["autoattack"].update(steps=5, square_queries=20)
    params["squeeze"].update(select_samples=20, adaptive_steps=5)
    params["adversarial"].update(val_samples=16, warmup_epochs=1, epochs=None)  # train.epochs
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "tiny pipeline")
    return repo


# the longest a test waits for a training stage's checkpoint
WAIT_SECONDS = 300


def checkpoint_epoch(path: Path) -> int:
    """The epoch a training checkpoint holds (0: none yet, or half-written)."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return 0


def start(repo: Path, *command: str) -> subprocess.Popen:
    """Start ``command`` in ``repo`` in a new session (its process group can be signalled)."""
    return subprocess.Popen(
        list(command),
        cwd=repo,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def signal_after_checkpoint(
    repo: Path, stage: str, process: subprocess.Popen, epoch: int, signum: int
) -> None:
    """Send ``signum`` to ``process``'s group once ``stage``'s checkpoint holds ``epoch``."""
    checkpoint = repo / ".checkpoints" / f"{stage}.pt"
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while checkpoint_epoch(checkpoint) < epoch:
            assert process.poll() is None, f"the stage ended before checkpoint {epoch}"
            assert time.monotonic() < deadline, f"no checkpoint {epoch} in {WAIT_SECONDS} s"
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signum)
