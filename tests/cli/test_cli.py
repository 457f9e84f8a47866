"""The command line, run as a subprocess on the tiny pipeline's outputs and fixture images."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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
    return subprocess.run([sys.executable, "-m", "modelrobustness", *map(str, args)], cwd=cwd,
                          env=env(), capture_output=True, text=True, check=False)


def cli_here(capsys, project: Path, *args: str) -> subprocess.CompletedProcess:
    """The command line's ``main`` in this process (quick, for the error paths): the same
    return code and output as :func:`cli`; an exception escaping ``main`` fails the test,
    as a traceback would."""
    capsys.readouterr()
    code = main(["--project", str(project), *map(str, args)])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.fixture(scope="module")
def images(tmp_path_factory, tiny_pipeline) -> dict[str, Path]:
    """A pipeline image (PNG, 28x28 grey), a 50x40 RGB JPEG, a text file, a missing path."""
    repo, _ = tiny_pipeline
    folder = tmp_path_factory.mktemp("images")
    paths = {"png": folder / "zebra.png", "jpg": folder / "photo.jpg",
             "bad": folder / "notes.jpg", "missing": folder / "missing.png"}
    shutil.copyfile(sorted((repo / "data/raw/zebra").iterdir())[0], paths["png"])
    paths["jpg"].write_bytes(encode(random_rgb(3, (50, 40)), "JPEG", quality=90))
    paths["bad"].write_text("not an image\n")
    return paths


def _model_view(repo: Path, path: Path, model: str = "baseline"):
    net = load_model(repo / "models" / f"{model}.pt")
    x = load_image(path, size=net.config.image_size, channels=net.config.in_channels)
    with torch.no_grad():
        probs = net(x).softmax(1)[0]
    return net, x, net.config.class_names[int(probs.argmax())], float(probs.max())


def test_help_lists_the_commands(tiny_pipeline):
    repo, _ = tiny_pipeline
    top = cli(repo, "--help")
    assert top.returncode == 0
    for command in ("predict", "attack", "report"):
        assert command in top.stdout
        sub = cli(repo, command, "--help")
        assert sub.returncode == 0 and f"usage: modelrobustness {command}" in sub.stdout
    assert "--attack {pgd,ddn}" in cli(repo, "attack", "--help").stdout
    installed = Path(sys.executable).parent / "modelrobustness"
    assert installed.is_file(), "the console script is not installed (pip install -e .)"
    assert subprocess.run([installed, "--help"], capture_output=True, text=True,
                          env=env()).returncode == 0


@pytest.mark.parametrize("model", ["baseline", "student"])
def test_predict_prints_class_confidence_score_and_verdict(tiny_pipeline, images, model):
    repo, _ = tiny_pipeline
    result = cli(repo, "predict", "--model", model, images["png"], images["jpg"])
    assert result.returncode == 0, result.stderr
    squeeze = json.loads((repo / "metrics/squeeze_detect.json").read_text())
    assert f"threshold {squeeze['threshold']:.4f}" in result.stdout
    detector = SqueezeDetector(load_model(repo / "models/baseline.pt"),
                               squeeze["selected_squeezers"], threshold=squeeze["threshold"])
    for key in ("png", "jpg"):
        _, _, name, confidence = _model_view(repo, images[key], model)
        _, x, _, _ = _model_view(repo, images[key], "baseline")
        score = float(detector.score(x)[0])
        line = next(line for line in result.stdout.splitlines()
                    if line.startswith(str(images[key])))
        cells = line.split()
        assert cells[1:4] == [name, f"{confidence:.4f}", f"{score:.4f}"]
        assert line.endswith("ADVERSARIAL? (flagged)" if score > squeeze["threshold"]
                             else "clean (not flagged)")


def test_predict_reports_unreadable_images_and_goes_on(tiny_pipeline, images):
    repo, _ = tiny_pipeline
    result = cli(repo, "predict", images["bad"], images["png"], images["missing"])
    assert result.returncode == 1
    assert f"{images['bad']} is not a usable image (not_image" in result.stderr
    assert f"cannot read {images['missing']}" in result.stderr
    assert "Traceback" not in result.stderr
    assert str(images["png"]) in result.stdout  # the readable one is still classified


def test_missing_model_says_to_run_dvc_repro(tiny_pipeline, images, tmp_path, capsys):
    repo, _ = tiny_pipeline
    shutil.copyfile(repo / "params.yaml", tmp_path / "params.yaml")
    for args in (["predict", images["png"]],
                 ["attack", images["png"], "--attack", "pgd", "--out", tmp_path / "a.png"],
                 ["report"]):
        result = cli_here(capsys, tmp_path, *args)
        assert result.returncode == 1, args
        assert "run `dvc repro` first" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("attack", ["pgd", "ddn"])
def test_attack_writes_the_adversarial_image(tiny_pipeline, images, tmp_path, attack):
    repo, _ = tiny_pipeline
    out = tmp_path / "adv.png"
    result = cli(repo, "attack", images["png"], "--attack", attack, "--out", out)
    assert result.returncode == 0, result.stderr
    net, x, before, _ = _model_view(repo, images["png"])
    x_adv = load_image(out, size=net.config.image_size, channels=net.config.in_channels)
    assert x_adv.shape == x.shape
    _, _, after, after_conf = _model_view(repo, out)
    lines = result.stdout.splitlines()
    assert next(line for line in lines if line.startswith("before")).split()[1] == before
    assert next(line for line in lines if line.startswith("after")).split() == [
        "after", after, f"{after_conf:.4f}"]
    delta = x_adv - x
    norms = re.search(r"L-inf ([\d.]+) .* L2 ([\d.]+)", result.stdout)
    assert norms is not None
    assert norms.group(1) == f"{float(delta.abs().max()):.4f}"
    assert norms.group(2) == f"{float(delta.norm()):.4f}"
    if attack == "pgd":  # written on the 8-bit grid without leaving the eps-ball
        import yaml

        eps = yaml.safe_load((repo / "params.yaml").read_text())["attack"]["pgd"]["eps"]
        assert float(delta.abs().max()) <= math.floor(eps * 255 + 1e-6) / 255 + 1e-6
    verdict = result.stdout.splitlines()[-1]
    assert verdict.startswith("fooled;" if after != before else "not fooled:"), verdict
    if attack == "pgd":  # eps 0.1, all steps: a 28x28 silhouette model does not survive
        assert after != before and verdict.startswith("fooled;")
    assert float(delta.abs().max()) > 0


# torch warns about the pickle protocol of the fake checkpoint before refusing it
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_attack_rejects_bad_input(tiny_pipeline, images, tmp_path, capsys):
    repo, _ = tiny_pipeline
    result = cli_here(capsys, repo, "attack", images["png"], "--attack", "pgd", "--label",
                      "unicorn", "--out", tmp_path / "a.png")
    assert result.returncode == 1 and "'unicorn' is not a class" in result.stderr
    assert "zebra" in result.stderr
    result = cli_here(capsys, repo, "attack", images["bad"], "--attack", "ddn", "--out",
                      tmp_path / "a.png")
    assert result.returncode == 1 and f"{images['bad']} is not a usable image" in result.stderr
    result = cli_here(capsys, repo, "attack", images["png"], "--attack", "pgd", "--out",
                      tmp_path / "a.jpg")
    assert result.returncode == 1 and "give a .png path" in result.stderr
    for options, message in ((["--eps", "0.001"], "below one grey level"),
                             (["--eps", "-0.05"], "--eps is -0.05; expected a number > 0"),
                             (["--steps", "0"], "--steps is 0; expected at least 1")):
        result = cli_here(capsys, repo, "attack", images["png"], "--attack", "pgd", *options,
                          "--out", tmp_path / "a.png")
        assert result.returncode == 1 and message in result.stderr, result.stderr
    not_a_model = tmp_path.parent / "not_a_model.pt"
    not_a_model.write_bytes(b"\x80\x04 not a checkpoint")
    result = cli_here(capsys, repo, "predict", "--model", not_a_model, images["png"])
    assert result.returncode == 1 and "is not a readable ModelRobustness checkpoint" in \
        result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def test_report_prints_the_summary_and_updates_a_readme(tiny_pipeline, tmp_path):
    repo, _ = tiny_pipeline
    summary = json.loads((repo / "metrics/evaluate.json").read_text())
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
