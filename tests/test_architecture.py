"""The core never imports Qt or the app (napari's rule, checked two ways)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_no_qt_import_in_core_source() -> None:
    offenders = []
    for py in (ROOT / "cuewatch").rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(), str(py))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "cuewatch_ui", "ui"):
                    offenders.append(f"{py.relative_to(ROOT)}: {n}")
    assert offenders == []


def test_import_linter_contract() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is part of the test extra; install it with pip install -e '.[test]'")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_package_folder_is_in_the_wheel() -> None:
    """A new subpackage cannot silently drop out of the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("cuewatch",) + init.parent.relative_to(ROOT / "cuewatch").parts)
             for init in (ROOT / "cuewatch").rglob("__init__.py")}
    found |= {".".join(("cuewatch_ui",) + init.parent.relative_to(ROOT / "ui").parts)
              for init in (ROOT / "ui").rglob("__init__.py")}
    assert found == listed
