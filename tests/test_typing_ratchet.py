"""The mypy ratchet (pyproject.toml): every module is either strict (every function typed) or
on the "not yet strict" list, and that list only shrinks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
STRICT = ("disallow_untyped_defs", "disallow_incomplete_defs")


def source_modules() -> set[str]:
    """Every module of the core and the app, under its import name (ui/ is cuewatch_ui)."""
    found = set()
    for top, name in ((ROOT / "cuewatch", "cuewatch"), (ROOT / "ui", "cuewatch_ui")):
        for py in top.rglob("*.py"):
            parts = [name, *py.relative_to(top).with_suffix("").parts]
            found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def ratchet_lists() -> tuple[list[str], list[str]]:
    """(strict, not yet strict) module lists from pyproject.toml's mypy overrides."""
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    strict = [m for o in overrides if all(o.get(k) is True for k in STRICT) for m in o["module"]]
    not_yet = [m for o in overrides if all(o.get(k) is False for k in STRICT) for m in o["module"]]
    return strict, not_yet


def test_every_module_is_in_exactly_one_typing_list() -> None:
    strict, not_yet = ratchet_lists()
    modules = source_modules()
    assert sorted(m for m in modules if m not in strict and m not in not_yet) == [], \
        "new modules go into the strict list of [[tool.mypy.overrides]] in pyproject.toml"
    assert sorted(set(strict) & set(not_yet)) == []
    assert sorted((set(strict) | set(not_yet)) - modules) == [], "listed modules that do not exist"
    assert len(strict) == len(set(strict)) and len(not_yet) == len(set(not_yet))


def strict_errors(modules: list[str], ui: Path = ROOT / "ui") -> dict[str, int]:
    """mypy errors per module when ``modules`` are checked with the strict settings."""
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    if exe is None:
        pytest.fail("mypy is part of the test extra; install it with pip install -e '.[test]'")
    with tempfile.TemporaryDirectory() as names:
        os.symlink(ui, Path(names) / "cuewatch_ui")
        args = [exe, "--follow-imports=silent", "--no-incremental",
                *(f"--{k.replace('_', '-')}" for k in STRICT)]
        for m in modules:
            args += ["-m", m]
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, MYPYPATH=names))
    errors = dict.fromkeys(modules, 0)
    for line in proc.stdout.splitlines():
        hit = re.match(r"(.+?\.py):\d+: error:", line)
        if hit:
            path = Path(hit.group(1))
            parts = path.with_suffix("").parts
            at = max(i for i, p in enumerate(parts) if p in ("cuewatch", "cuewatch_ui"))
            dotted = [*parts[at:-1]] + ([] if parts[-1] == "__init__" else [parts[-1]])
            name = ".".join(dotted)
            errors[name] = errors.get(name, 0) + 1
    return errors


def test_not_yet_strict_list_only_shrinks() -> None:
    """A module on the "not yet strict" list that passes the strict settings must move to the
    strict list (or CI would let it slip back)."""
    _strict, not_yet = ratchet_lists()
    if not not_yet:
        return  # everything is strict; the first test keeps it that way for new modules
    errors = strict_errors(not_yet)
    assert sorted(m for m in not_yet if errors[m] == 0) == [], \
        "these pass the strict settings: move them to the strict list in pyproject.toml"


def test_strict_errors_are_counted_per_module(tmp_path: Path) -> None:
    """The check above tells an untyped module from a typed one."""
    ui = tmp_path / "ui"
    shutil.copytree(ROOT / "ui", ui, ignore=shutil.ignore_patterns("__pycache__"))
    (ui / "untyped_probe.py").write_text("def probe(x):\n    return x\n")
    errors = strict_errors(["cuewatch_ui.untyped_probe", "cuewatch_ui.timeline", "cuewatch.errors"], ui)
    assert errors == {"cuewatch_ui.untyped_probe": 1, "cuewatch_ui.timeline": 0, "cuewatch.errors": 0}
