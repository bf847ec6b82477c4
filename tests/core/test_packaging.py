"""The product stands alone: what gaitcoach imports is what its wheel declares, it never
imports the simulator (except the demo), and its own files are package data."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gaitcoach"
# Modules that need an extra, and the extra's modules they import (lazily or not).
EXTRAS = {
    "gaitcoach/demo.py": {"firmware_sim"},
    "gaitcoach/mqtt/embedded.py": {"amqtt"},
    "gaitcoach/session/export.py": {"pyarrow"},
    # The team hub (extra "hub"): its commands check for psycopg first and say what to install.
    "gaitcoach/hub/commands.py": {"psycopg"},
    "gaitcoach/hub/ingest.py": {"psycopg"},
    "gaitcoach/hub/schema.py": {"psycopg"},
    "gaitcoach/hub/db.py": {"psycopg"},
}


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth of the code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _runtime_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name.lower().replace("_", "-") for r in project["dependencies"]}


def test_gaitcoach_imports_only_its_runtime_dependencies() -> None:
    runtime = _runtime_distributions()
    provided = packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name in _imports(path) - stdlib - {"gaitcoach", "__future__"}:
            if name in EXTRAS.get(rel, set()):
                continue
            dists = {d.lower().replace("_", "-") for d in provided.get(name, [])}
            assert dists & runtime, (
                f"{rel} imports {name} ({dists or 'not installed'}), not a runtime dependency"
            )


def test_only_the_demo_imports_the_simulator() -> None:
    users = [
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "firmware_sim" in _imports(p)
    ]
    assert users == ["gaitcoach/demo.py"]


def test_no_file_is_read_from_the_checkout() -> None:
    """Wording, advice, schemas and examples come through importlib.resources."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "parents[2]" not in text and '"config" /' not in text, path
