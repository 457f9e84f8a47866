"""The command line on the tiny pipeline's outputs and fixture images: what it prints, what
it refuses (never a traceback, never a file destroyed), and its options anywhere on the
line. Error paths run ``main`` in this process (quick); a few commands run as a user runs
them, in a new process."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from modelrobustness.cli import main
from modelrobustness.data.images import load_image
from modelrobustness.defenses import SqueezeDetector
from modelrobustness.models import load_model
from modelrobustness.reporting.markdown import results_section, summary_table

from helpers.images import encode, random_rgb
from helpers.pipeline_repo import env

pytestmark = pytest.mark.e2e


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed command line, as a user runs it (a new process)."""
    return subprocess.run(
        [sys.executable, "-m", "modelrobustness", *map(str, args)],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )


def cli_here(capsys, project: Path | None, *args: str) -> subprocess.CompletedProcess:
    """The command line's ``main`` in this process: the same return code and output as
    :func:`cli`; an exception escaping ``main`` fails the test, as a traceback would."""
    capsys.readouterr()
    code = main([*(["--project", str(project)] if project else []), *map(str, args)])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.fixture(scope="module")
def images(tmp_path_factory, tiny_pipeline) -> dict[str, Path]:
    """A pipeline image (PNG, 28x28 grey), a 640x402 RGB photo-like JPEG, a small RGB JPEG,
    a text file, a missing path."""
    repo, _ = tiny_pipeline
    folder = tmp_path_factory.mktemp("images")
    paths = {
        "png": folder / "zebra.png",
        "photo": folder / "photo.jpg",
        "jpg": folder / "small.jpg",
        "bad": folder / "notes.jpg",
        "missing": folder / "missing.png",
    }
    shutil.copyfile(sorted((repo / "data/raw/zebra").iterdir())[0], paths["png"])
    paths["photo"].write_bytes(encode(random_rgb(3, (640, 402)), "JPEG", quality=90))
    paths["jpg"].write_bytes(encode(random_rgb(4, (50, 40)), "JPEG", quality=90))
    paths["bad"].write_text("not an image\n")
    return paths


def _model_view(repo: Path, path: Path, model: str = "baseline"):
    net = load_model(repo / "models" / f"{model}.pt")
    x = load_image(path, size=net.config.image_size, channels=net.config.in_channels)
    with torch.no_grad():
        probs = net(x).softmax(1)[0]
    return net, x, net.config.class_names[int(probs.argmax())], float(probs.max())


def _project_copy(repo: Path, tmp_path: Path, changes: dict | None = None) -> Path:
    """A project folder with ``repo``'s models and metrics and parameters changed by
    ``changes`` (dotted key: value)."""
    project = tmp_path / "project"
    project.mkdir()
    values = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in (changes or {}).items():
        *parents, name = key.split(".")
        node = values
        for part in parents:
            node = node[part]
        node[name] = value
    (project / "params.yaml").write_text(yaml.safe_dump(values))
    for folder in ("models", "metrics"):
        (project / folder).symlink_to(repo / folder)
    return project


def test_help_lists_the_commands(tiny_pipeline):
    repo, _ = tiny_pipeline
    top = cli(repo, "--help")
    assert top.returncode == 0
    for command in ("predict", "attack", "report", "check-params"):
        assert command in top.stdout
        sub = cli(repo, command, "--help")
        assert sub.returncode == 0 and f"usage: modelrobustness {command}" in sub.stdout
        assert "--project DIR" in sub.stdout and "--device DEVICE" in sub.stdout
    assert "--attack {pgd,ddn}" in cli(repo, "attack", "--help").stdout
    installed = Path(sys.executable).parent / "modelrobustness"
    assert installed.is_file(), "the console script is not installed (pip install -e .)"
    assert (
        subprocess.run([installed, "--help"], capture_output=True, text=True, env=env()).returncode
        == 0
    )


def test_predict_with_the_detectors_model(tiny_pipeline, images):
    repo, _ = tiny_pipeline
    result = cli(repo, "predict", images["png"], images["jpg"])
    assert result.returncode == 0, result.stderr
    squeeze = json.loads((repo / "metrics/squeeze_detect.json").read_text())
    assert f"threshold {squeeze['threshold']:.4f}" in result.stdout
    detector = SqueezeDetector(
        load_model(repo / "models/baseline.pt"),
        squeeze["selected_squeezers"],
        threshold=squeeze["threshold"],
    )
    for key in ("png", "jpg"):
        _, x, name, confidence = _model_view(repo, images[key])
        score = float(detector.score(x)[0])
        line = next(
            line for line in result.stdout.splitlines() if line.startswith(str(images[key]))
        )
        cells = line.split()
        assert cells[1:4] == [name, f"{confidence:.4f}", f"{score:.4f}"]
        assert (
            "ADVERSARIAL? (flagged)" if score > squeeze["threshold"] else "clean (not flagged)"
        ) in line
    assert "answers one of its 10 classes: bear, bird, cat" in result.stdout


def test_predict_with_another_model_skips_the_detector(tiny_pipeline, images, tmp_path, capsys):
    repo, _ = tiny_pipeline
    result = cli_here(capsys, repo, "predict", "--model", "student", images["png"])
    assert result.returncode == 0, result.stderr
    _, _, name, confidence = _model_view(repo, images["png"], "student")
    line = next(line for line in result.stdout.splitlines() if line.startswith(str(images["png"])))
    assert line.split()[1:5] == [name, f"{confidence:.4f}", "–", "–"]
    assert "note: detector skipped: it was calibrated on" in result.stdout
    assert "not on " in result.stdout and "student.pt" in result.stdout
    # and without squeeze_detect's record, or when asked, the baseline goes without one too
    project = _project_copy(repo, tmp_path)
    (project / "metrics").unlink()
    (project / "metrics").mkdir()
    result = cli_here(capsys, project, "predict", images["png"])
    assert result.returncode == 0 and "detector skipped: " in result.stdout
    assert "squeeze_detect.json not found" in result.stdout
    result = cli_here(capsys, repo, "predict", "--no-detector", images["png"])
    assert result.returncode == 0 and "detector:" not in result.stdout


def test_predict_reads_folders_and_writes_json_and_csv(tiny_pipeline, images, tmp_path, capsys):
    repo, _ = tiny_pipeline
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    shutil.copyfile(images["png"], folder / "a.png")
    shutil.copyfile(images["jpg"], folder / "nested" / "b.JPG")
    (folder / "nested" / "readme.txt").write_text("not an image")
    as_json = cli_here(capsys, repo, "predict", folder, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert [r["image"] for r in report["images"]] == [
        str(folder / "a.png"),
        str(folder / "nested" / "b.JPG"),
    ]
    assert report["model"]["classes"][:2] == ["bear", "bird"]
    assert report["detector"]["threshold"] > 0
    assert any("1 file(s) in the folders skipped" in note for note in report["notes"])
    for record, key in zip(report["images"], ("png", "jpg"), strict=True):
        _, _, name, confidence = _model_view(repo, images[key])
        assert record["class"] == name and record["confidence"] == pytest.approx(confidence)
        assert isinstance(record["flagged"], bool) and isinstance(record["warnings"], list)
    as_csv = cli_here(capsys, repo, "predict", folder, "--format", "csv")
    assert as_csv.returncode == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["image"], r["class"]) for r in rows] == [
        (r["image"], r["class"]) for r in report["images"]
    ]
    assert "1 file(s) in the folders skipped" in as_csv.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli_here(capsys, repo, "predict", empty)
    assert result.returncode == 1 and "no image files in" in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_predict_shows_progress_on_a_terminal_only(tiny_pipeline, images, monkeypatch):
    from modelrobustness.cli.predict import classify
    from modelrobustness.cli.project import image_limits, load_classifier
    from modelrobustness.pipeline.paths import ProjectPaths

    repo, _ = tiny_pipeline
    paths = ProjectPaths(repo)
    model = load_classifier(paths, "baseline", torch.device("cpu"))
    limits = image_limits(paths, yaml.safe_load((repo / "params.yaml").read_text()))
    files = [images["png"]] * 70  # two batches
    for terminal, shown in ((_Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", terminal)
        records = classify(model, files, detector=None, limits=limits)
        assert len(records) == 70
        assert (
            "predict: 100%" in terminal.getvalue() and "70/70" in terminal.getvalue()
        ) is shown, terminal.getvalue()


def test_predict_warns_far_from_the_training_data(tiny_pipeline, images, capsys):
    repo, _ = tiny_pipeline
    result = cli_here(capsys, repo, "predict", images["png"], images["photo"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert next(line for line in lines if line.startswith(str(images["png"]))).endswith("ok")
    assert next(line for line in lines if line.startswith(str(images["photo"]))).endswith(
        "FAR (see below)"
    )
    note = next(line for line in lines if line.strip().startswith(f"{images['photo']}:"))
    assert "a 640x402 image (the model was trained on 28x28 images)" in note
    assert "a colour image (the model was trained on grayscale images)" in note
    assert "The model answers one of its 10 classes whatever the image shows" in note


def test_predict_reports_unreadable_images_and_goes_on(tiny_pipeline, images, capsys):
    repo, _ = tiny_pipeline
    result = cli_here(capsys, repo, "predict", images["bad"], images["png"], images["missing"])
    assert result.returncode == 1
    assert f"{images['bad']} is not a usable image (not_image" in result.stderr
    assert f"cannot read {images['missing']}" in result.stderr
    assert "Traceback" not in result.stderr
    assert str(images["png"]) in result.stdout  # the readable one is still classified


def test_images_are_held_to_the_pipelines_limits(
    tiny_pipeline, images, tmp_path, capsys, monkeypatch
):
    repo, _ = tiny_pipeline
    project = _project_copy(repo, tmp_path, {"data.max_pixels": 1000})  # 50x40 = 2000 px
    result = cli_here(capsys, project, "predict", images["jpg"])
    assert result.returncode == 1
    assert "decompression_bomb: 50x40 = 2000 pixels exceeds max_pixels=1000" in result.stderr
    monkeypatch.setattr("modelrobustness.data.images.MAX_FILE_BYTES", 100)
    result = cli_here(capsys, repo, "predict", images["png"])
    assert result.returncode == 1, result.stderr
    assert "is not a usable image (decompression_bomb: file of" in result.stderr
    assert "exceeds the 100-byte limit" in result.stderr
    # a pipe is refused without reading it (reading would wait for ever)
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    result = cli_here(capsys, repo, "predict", fifo)
    assert result.returncode == 1 and "not a regular file" in result.stderr


def test_global_options_anywhere_and_the_device_default_from_params(
    tiny_pipeline, images, tmp_path, capsys
):
    repo, _ = tiny_pipeline
    after = cli_here(capsys, None, "predict", images["png"], "--project", repo, "--device", "cpu")
    before = cli_here(capsys, None, "--project", repo, "--device", "cpu", "predict", images["png"])
    assert after.returncode == before.returncode == 0 and after.stdout == before.stdout
    if not torch.cuda.is_available():  # the project's device parameter is the default
        project = _project_copy(repo, tmp_path, {"device": "cuda"})
        result = cli_here(capsys, project, "predict", images["png"])
        assert result.returncode == 1
        assert (
            "parameter device is 'cuda'; expected auto or cpu: this machine has no CUDA "
            "device" in result.stderr
        )
        assert (
            cli_here(capsys, project, "predict", images["png"], "--device", "cpu").returncode == 0
        )


def test_missing_model_says_to_run_dvc_repro(tiny_pipeline, images, tmp_path, capsys):
    repo, _ = tiny_pipeline
    shutil.copyfile(repo / "params.yaml", tmp_path / "params.yaml")
    for args in (
        ["predict", images["png"]],
        ["attack", images["png"], "--attack", "pgd", "--out", tmp_path / "a.png"],
        ["report"],
    ):
        result = cli_here(capsys, tmp_path, *args)
        assert result.returncode == 1, args
        assert "run `dvc repro` first" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("attack", ["pgd", "ddn"])
def test_attack_writes_the_adversarial_image(tiny_pipeline, images, tmp_path, capsys, attack):
    """In this process (test_predict_with_the_detectors_model runs the command as a new
    one): the same code path, without a second start-up of torch."""
    repo, _ = tiny_pipeline
    out = tmp_path / "adv.png"
    result = cli_here(capsys, repo, "attack", images["png"], "--attack", attack, "--out", out)
    assert result.returncode == 0, result.stderr
    net, x, before, _ = _model_view(repo, images["png"])
    x_adv = load_image(out, size=net.config.image_size, channels=net.config.in_channels)
    assert x_adv.shape == x.shape
    _, _, after, after_conf = _model_view(repo, out)
    lines = result.stdout.splitlines()
    assert next(line for line in lines if line.startswith("before")).split()[1] == before
    assert next(line for line in lines if line.startswith("after")).split() == [
        "after",
        after,
        f"{after_conf:.4f}",
    ]
    delta = x_adv - x
    norms = re.search(r"L-inf ([\d.]+) .* L2 ([\d.]+)", result.stdout)
    assert norms is not None
    assert norms.group(1) == f"{float(delta.abs().max()):.4f}"
    assert norms.group(2) == f"{float(delta.norm()):.4f}"
    if attack == "pgd":  # written on the 8-bit grid without leaving the eps-ball
        eps = yaml.safe_load((repo / "params.yaml").read_text())["attack"]["pgd"]["eps"]
        assert float(delta.abs().max()) <= math.floor(eps * 255 + 1e-6) / 255 + 1e-6
    verdict = result.stdout.splitlines()[-1]
    assert verdict.startswith("fooled;" if after != before else "not fooled:"), verdict
    if attack == "pgd":  # eps 0.1, all steps: a 28x28 silhouette model does not survive
        assert after != before and verdict.startswith("fooled;")
    assert float(delta.abs().max()) > 0


def test_attack_never_overwrites_unasked(tiny_pipeline, images, tmp_path, capsys):
    repo, _ = tiny_pipeline
    source = tmp_path / "victim.png"
    source.write_bytes(encode(random_rgb(5, (64, 40)).convert("RGBA"), "PNG"))
    original = source.read_bytes()
    (tmp_path / "sub").mkdir()
    alias = tmp_path / "alias.png"
    alias.symlink_to(source)
    for out, force in (
        (source, False),
        (source, True),
        (f"{tmp_path}/sub/../victim.png", True),
        (alias, True),
    ):
        result = cli_here(
            capsys,
            repo,
            "attack",
            source,
            "--attack",
            "ddn",
            "--out",
            out,
            *(["--force"] if force else []),
        )
        assert result.returncode == 1 and "is the input image" in result.stderr
    assert source.read_bytes() == original
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    result = cli_here(capsys, repo, "attack", images["png"], "--attack", "ddn", "--out", existing)
    assert result.returncode == 1 and "exists; pass --force to replace it" in result.stderr
    assert existing.read_bytes() == b"keep me"
    result = cli_here(
        capsys, repo, "attack", images["png"], "--attack", "ddn", "--out", existing, "--force"
    )
    assert result.returncode == 0 and existing.read_bytes().startswith(b"\x89PNG")
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere.png")
    result = cli_here(capsys, repo, "attack", images["png"], "--attack", "ddn", "--out", dangling)
    assert result.returncode == 1 and "exists; pass --force" in result.stderr
    assert dangling.is_symlink() and not (tmp_path / "nowhere.png").exists()


# torch warns about the pickle protocol of the fake checkpoint before refusing it
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_attack_and_predict_reject_bad_options(tiny_pipeline, images, tmp_path, capsys):
    import torchvision

    repo, _ = tiny_pipeline
    out = tmp_path / "a.png"
    pgd = ["attack", images["png"], "--attack", "pgd", "--out", out]
    cases = [
        (
            [*pgd, "--label", "unicorn"],
            "'unicorn' is not a class of this model; expected one of bear, bird",
        ),
        (
            ["attack", images["bad"], "--attack", "ddn", "--out", out],
            f"{images['bad']} is not a usable image",
        ),
        (
            ["attack", images["png"], "--attack", "pgd", "--out", tmp_path / "a.jpg"],
            "give a .png path",
        ),
        (
            ["attack", images["png"], "--attack", "pgd", "--out", tmp_path / "no" / "a.png"],
            "the folder",
        ),
        ([*pgd, "--eps", "0.001"], "below one grey level"),
        (
            [*pgd, "--eps", "-0.05"],
            "--eps is -0.05; expected a number > 0 (at most 1 for the linf norm)",
        ),
        ([*pgd, "--eps", "inf"], "--eps is inf; expected a number > 0"),
        ([*pgd, "--eps", "1e400"], "--eps is inf; expected a number > 0"),
        ([*pgd, "--eps", "nan"], "--eps is nan; expected a number > 0"),
        ([*pgd, "--eps", "100"], "--eps is 100.0; expected a number in (0, 1] for the linf"),
        (
            ["attack", images["png"], "--attack", "ddn", "--eps", "0.1", "--out", out],
            "--eps applies to PGD only",
        ),
        ([*pgd, "--steps", "0"], "--steps is 0; expected at least 1"),
        ([*pgd, "--seed", "-1"], "--seed is -1; expected an integer from 0 to 4294967295"),
        ([*pgd, "--device", "tpu"], "--device is 'tpu'; expected auto, cpu, cuda, cuda:N or mps"),
        (
            [*pgd, "--model", "teacher2"],
            "--model is 'teacher2'; expected one of baseline, "
            "teacher, student, adversarial or the path of a "
            "checkpoint",
        ),
    ]
    if not torch.cuda.is_available():
        cases.append(
            (
                [*pgd, "--device", "cuda"],
                "--device is 'cuda'; expected auto or cpu: this machine has no CUDA device",
            )
        )
    if not torch.backends.mps.is_available():
        cases.append(
            (
                [*pgd, "--device", "mps"],
                "--device is 'mps'; expected auto or cpu: MPS (Apple GPU) is not available",
            )
        )
    resnet = torchvision.models.resnet18(weights=None)
    files = {"state_dict.pt": resnet.state_dict(), "whole.pt": resnet}
    for name, obj in files.items():
        torch.save(obj, tmp_path.parent / name)
    cases += [
        (
            ["predict", "--model", tmp_path.parent / "state_dict.pt", images["png"]],
            "is a bare state_dict (122 tensors, e.g. conv1.weight, bn1.weight): it has no model "
            "config; expected a ModelRobustness checkpoint",
        ),
        (
            ["predict", "--model", tmp_path.parent / "whole.pt", images["png"]],
            "is a whole pickled model (torchvision.models.resnet.ResNet",
        ),
        (
            ["predict", "--model", images["png"], images["png"]],
            "is a PNG image; expected a ModelRobustness checkpoint",
        ),
    ]
    for args, message in cases:
        result = cli_here(capsys, repo, *args)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_report_prints_the_summary_and_updates_a_readme(tiny_pipeline, tmp_path):
    repo, _ = tiny_pipeline
    summary = json.loads((repo / "reports/summary.json").read_text())
    result = cli(repo, "report")
    assert result.returncode == 0, result.stderr
    assert summary_table(summary) in result.stdout

    readme = tmp_path / "README.md"
    report = (repo / "reports/robustness.md").read_text()
    section = results_section(report)
    begin, end = section.splitlines()[0], section.splitlines()[-1]
    readme.write_text(f"# Title\n\n## Results\n\n{begin}\nold text\n{end}\n\n## After\n")
    result = cli(repo, "report", "--readme", readme)
    assert result.returncode == 0, result.stderr
    text = readme.read_text()
    assert "old text" not in text and text.startswith("# Title") and text.endswith("## After\n")
    assert results_section(text) == section.replace("](figures/", "](reports/figures/")

    no_markers = tmp_path / "PLAIN.md"
    no_markers.write_text("# nothing to replace\n")
    result = cli(repo, "report", "--readme", no_markers)
    assert result.returncode == 1 and "no results section" in result.stderr
