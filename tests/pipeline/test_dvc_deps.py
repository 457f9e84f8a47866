"""Each stage's Python deps in dvc.yaml are exactly what its script executes (DVC does not
trace imports: a missing dep lets `dvc repro` call stale outputs up to date, a stale one
reruns stages for nothing)."""

from __future__ import annotations

import shlex

import pytest
import yaml

from helpers.imports import ROOT, import_closure

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def _script(stage: dict) -> str:
    words = shlex.split(stage["cmd"])
    scripts = [w for w in words if w.endswith(".py")]
    assert words[0] == "python" and len(scripts) == 1, f"unexpected cmd {stage['cmd']!r}"
    return scripts[0]


def _dep_paths(stage: dict) -> list[str]:
    return [next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_python_deps_are_the_import_closure(name: str) -> None:
    stage = STAGES[name]
    script = ROOT / _script(stage)
    expected = {p.relative_to(ROOT).as_posix() for p in import_closure(script)}
    declared = {d for d in _dep_paths(stage) if d.endswith(".py")}
    missing, stale = sorted(expected - declared), sorted(declared - expected)
    paste = "\n".join(f"      - {p}" for p in sorted(expected, key=_order))
    assert not missing and not stale, (
        f"stage {name}: dvc.yaml deps missing {missing}, stale {stale}. Its Python deps "
        f"should be:\n{paste}"
    )


def _order(path: str) -> tuple[int, str]:
    return (0 if path.startswith("stages/") else 1, path)
