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


# The composition root (settings, wiring, jobs) sits in gallra/ but below its CLI and
# web: flows build their App from it. Nothing else in gallra/ may be imported by flows.
COMPOSITION_ROOT = {
    "gallra.settings",
    "gallra.wiring",
    "gallra.jobs",
    "gallra.rights",
    "gallra.errors",
}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if "." not in node.module:  # `from gallra import jobs` imports a module
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_imports_only_point_down() -> None:
    for path in _sources():
        rel = path.relative_to(ROOT)
        layer = PACKAGES.index(rel.parts[0])
        above = set(PACKAGES[:layer])
        modules = _imported_modules(path)
        if rel.parts[0] == "flows":
            gallra_modules = {m for m in modules if m.split(".")[0] == "gallra"}
            assert gallra_modules <= COMPOSITION_ROOT | {"gallra"}, f"{rel} imports the front door"
            above -= {"gallra"}
        assert not ({m.split(".")[0] for m in modules} & above), f"{rel} imports a layer above it"
    for module in COMPOSITION_ROOT:
        path = ROOT / (module.replace(".", "/") + ".py")
        uses = {m for m in _imported_modules(path) if m.startswith("gallra.")}
        assert uses <= COMPOSITION_ROOT, f"{module} must not import the CLI or web"


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
