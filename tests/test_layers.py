"""The packages stack: cli on top; training and service side by side, never importing each other; then decisions,
model, features. An import that points up or sideways fails here, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what each package may import of the project's packages (itself included)
MAY_IMPORT = {
    "features": {"features"},
    "model": {"features", "model"},
    "decisions": {"features", "model", "decisions"},
    "training": {"features", "model", "decisions", "training"},
    "service": {"features", "model", "decisions", "service"},
    "cli": {"features", "model", "decisions", "training", "service", "cli"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", list(MAY_IMPORT))
def test_every_import_points_down(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, package
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in modules
        for line, target in _imports(path)
        if target in MAY_IMPORT and target not in MAY_IMPORT[package]
    ]
    assert wrong == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from service.settings import Settings\n    import training.fit\n")
    assert [target for _, target in _imports(module)] == ["service", "training"]


MODULE_LINES, FUNCTION_LINES = 310, 85  # the style guide's "about 300" and "about 80", with a little give


def _sizes(path: Path) -> list[str]:
    """What in a module is too long: the module itself, and each function (its signature included)."""
    text, name = path.read_text(), path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = [f"{name}: {text.count(chr(10))} lines"] if text.count("\n") > MODULE_LINES else []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_module_or_function_outgrows_the_style_guide() -> None:
    packages = [*MAY_IMPORT, "bench"]
    modules = [p for package in packages for p in sorted((ROOT / package).rglob("*.py")) if "migrations" not in p.parts]
    assert len(modules) > 50
    assert [problem for path in modules for problem in _sizes(path)] == []


def test_a_long_function_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n" + "    x = 1\n" * FUNCTION_LINES)
    assert _sizes(module) == [f"m.py:1 f: {FUNCTION_LINES + 1} lines"]
