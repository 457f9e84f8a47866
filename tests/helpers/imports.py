"""First-party import graph of the package, read from the source with ``ast`` (nothing is
imported): the ground truth for the stages' DVC deps and for the layer rule."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = "modelrobustness"


def module_file(module: str) -> Path | None:
    """The file that defines ``module`` (``a/b.py`` or ``a/b/__init__.py``), if first-party."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    """``src/modelrobustness/a/b.py`` -> ``modelrobustness.a.b`` (a package: its name)."""
    parts = list(path.resolve().relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can execute: module level and inside functions and
    classes alike; ``if TYPE_CHECKING:`` blocks never run and are skipped."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _packages_along(module: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module executes each parent's
    ``__init__``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imported_modules(path: Path, *, package: str | None = None) -> set[str]:
    """First-party modules that executing ``path`` imports directly (parents included,
    ``from pkg import name`` resolved to ``pkg.name`` when that is a module).

    ``package`` is the package relative imports resolve against (derived for files under
    ``src/``)."""
    if package is None and path.resolve().is_relative_to(SRC):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                if package is None:
                    raise ValueError(f"{path}: relative import outside the package")
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [base]
            targets += [
                f"{base}.{alias.name}"
                for alias in node.names
                if module_file(f"{base}.{alias.name}") is not None
            ]
        for target in targets:
            for module in _packages_along(target):
                if module_file(module) is not None:
                    found.add(module)
    return found


def import_closure(path: Path) -> set[Path]:
    """Every first-party file that running ``path`` executes, ``path`` included."""
    seen: set[Path] = set()
    todo = [path.resolve()]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for module in imported_modules(current):
            file = module_file(module)
            if file is not None and file.resolve() not in seen:
                todo.append(file.resolve())
    return seen


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}
