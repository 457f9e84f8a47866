"""The package's layers import only downward (docs/layout.md):
__main__ -> cli -> pipeline -> (evaluation | training | reporting)
-> (attacks | defenses | models | data) -> utils; siblings do not import each other."""

from __future__ import annotations

import ast

import pytest

from helpers.imports import PACKAGE, SRC, import_closure, imported_modules, package_modules

# package -> layer; a module may import its own package and packages of lower layers only
LAYERS: dict[str, int] = {
    "utils": 0,
    "data": 1,
    "models": 1,
    "attacks": 1,
    "defenses": 1,
    "evaluation": 2,
    "training": 2,
    "reporting": 2,
    "pipeline": 3,
    "cli": 4,
    "__main__": 5,
}
MODULES = package_modules()


def _room(module: str) -> str | None:
    """``modelrobustness.attacks.pgd`` -> ``attacks``; the package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _external_imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_room_has_a_layer() -> None:
    rooms = {_room(m) for m in MODULES} - {None}
    assert rooms <= set(LAYERS), f"packages without a layer: {sorted(rooms - set(LAYERS))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    room = _room(module)
    if room is None:
        return
    wrong = []
    for target in sorted(imported_modules(MODULES[module])):
        other = _room(target)
        if other is None or other == room:
            continue
        if LAYERS[other] >= LAYERS[room]:
            wrong.append(f"{target} (layer {LAYERS[other]}: {other})")
    assert not wrong, f"{module} (layer {LAYERS[room]}: {room}) imports upward or sideways: {wrong}"


def test_only_pipeline_knows_dvc_and_only_figures_draws() -> None:
    dvc = sorted(m for m in MODULES if _external_imports(m) & {"dvc", "dvclive"})
    assert all(_room(m) == "pipeline" for m in dvc), f"DVC outside pipeline/: {dvc}"
    plotting = sorted(m for m in MODULES if "matplotlib" in _external_imports(m))
    assert plotting == [f"{PACKAGE}.reporting.figures"], plotting


@pytest.mark.parametrize(
    "package",
    [
        "utils",
        "evaluation",
        "training",
        "reporting",
        "pipeline",
        "data.sources",
        "pipeline.artifacts",
    ],
)
def test_package_inits_import_nothing(package: str) -> None:
    init = SRC / PACKAGE / package.replace(".", "/") / "__init__.py"
    closure = {p.relative_to(SRC).as_posix() for p in import_closure(init)}
    parents = {f"{PACKAGE}/__init__.py", f"{PACKAGE}/{package.split('.')[0]}/__init__.py"}
    assert closure <= parents | {init.relative_to(SRC).as_posix()}, closure


def test_data_init_does_not_import_the_sources() -> None:
    closure = {
        p.relative_to(SRC).as_posix()
        for p in import_closure(SRC / PACKAGE / "data" / "__init__.py")
    }
    assert not [p for p in closure if "/sources/" in p or p.endswith("download.py")], closure
