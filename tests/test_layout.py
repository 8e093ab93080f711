"""The architecture's invariants: I/O libraries in one module each, imports point down,
no side effects at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["gallra", "flows", "ingest", "storage", "models"]  # top to bottom
CONFINED = {
    "boto3": {"storage/s3.py"},
    "botocore": {"storage/s3.py"},
    "imapclient": {"ingest/imap.py"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _sources() -> list[Path]:
    return [
        p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
    ]


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_io_library_is_imported_in_one_module_only(library: str) -> None:
    users = {p.relative_to(ROOT).as_posix() for p in _sources() if library in _imports(p)}
    assert users <= CONFINED[library]


# Top to bottom. The front doors (the command, the page) sit above the flows, which sit
# above gallra's core (settings, wiring, jobs, rights, coach, errors, Prefect environment).
# `python -m gallra` (gallra/__main__.py) is the command's second entry point.
LAYERS = [
    ("gallra.cli", "gallra.__main__"),
    ("gallra.web",),
    ("flows",),
    ("gallra",),
    ("ingest",),
    ("storage",),
    ("models",),
]


def _layer(module: str) -> int:
    """The layer of a dotted module name (-1 for anything outside the project)."""
    for index, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return index
    return -1


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from gallra import jobs` and `from gallra.cli import web` import modules
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_imports_only_point_down() -> None:
    """Every import, at the top of a module or inside a function, points to its own layer
    or one below it: models <- storage <- ingest <- gallra's core <- flows <- cli, web."""
    wrong = []
    for path in _sources():
        own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mine = _layer(own)
        for module in _imported_modules(path):
            theirs = _layer(module)
            if theirs != -1 and theirs < mine:
                wrong.append(f"{own} imports {module}")
    assert wrong == []


def test_the_layering_test_sees_a_wrong_arrow(tmp_path: Path) -> None:
    """The check above fails on an import that points up (it is not vacuous)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from gallra.cli import app\nfrom flows.nightly import nightly\n")
    assert {_layer(m) for m in _imported_modules(bad)} & {0, 2}
    assert _layer("gallra.jobs") > _layer("flows") > _layer("gallra.web.app")


def test_importing_everything_has_no_side_effects(tmp_path: Path) -> None:
    """Importing every module builds no engine, reads no settings and writes no file."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in _sources()
        if p.name != "__main__.py"
    ]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    env = {"GALLRA_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)
    assert not (tmp_path / "home").exists()


def test_rooms_with_one_job() -> None:
    """No function over 80 lines; a module over 300 lines says in its docstring why."""
    import re

    long_functions, unexplained = [], []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.name} ({length})")
        doc = ast.get_docstring(tree) or ""
        reason = re.search(r"(Over 300 lines|One module \(about \d+ lines\)) because", doc)
        if len(text.splitlines()) > 300 and not reason:
            unexplained.append(str(path.relative_to(ROOT)))
    assert long_functions == []
    assert unexplained == []
