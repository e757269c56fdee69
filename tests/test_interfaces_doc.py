"""docs/interfaces.md says it is kept current: this test keeps it so.

Every ```python block in it is a stub of the module its ``##`` heading names. Each
documented function and method must have the real parameters (names, order, kind,
defaults), each dataclass all its fields in order, each other class the attributes it
lists, each constant its value. Types and comments are for the reader and not checked.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "interfaces.md"
MODULE_IN_HEADING = re.compile(r"\b(cuewatch(?:\.[a-z_]+)+)")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def doc_blocks(text: str) -> list[tuple[str, str, int]]:
    """(module, stub source, line) for every python block, the module from its heading."""
    blocks, heading = [], ""
    for match in re.finditer(r"^## ([^\n]*)$|" + BLOCK.pattern, text, re.S | re.M):
        if match.group(1) is not None:
            heading = match.group(1)
            continue
        line = text.count("\n", 0, match.start()) + 2
        module = MODULE_IN_HEADING.search(heading)
        assert module, f"interfaces.md line {line}: the heading {heading!r} names no cuewatch module"
        blocks.append((module.group(1), match.group(2), line))
    return blocks


def _documented_params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str, ast.expr | None]]:
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = [(p.arg, "positional", d) for p, d in zip(positional, defaults)]
    if a.vararg:
        out.append((a.vararg.arg, "*args", None))
    out += [(p.arg, "keyword", d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        out.append((a.kwarg.arg, "**kwargs", None))
    return out


_KIND = {inspect.Parameter.POSITIONAL_ONLY: "positional", inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
         inspect.Parameter.KEYWORD_ONLY: "keyword", inspect.Parameter.VAR_POSITIONAL: "*args",
         inspect.Parameter.VAR_KEYWORD: "**kwargs"}


def _drop_self(params: list) -> list:
    return params[1:] if params and params[0][0] in ("self", "cls") else params


def check_function(fn: ast.FunctionDef, real: Any, namespace: dict, where: str) -> list[str]:
    """What the stub ``fn`` gets wrong about the callable ``real``."""
    try:
        sig = inspect.signature(real)
    except (TypeError, ValueError):
        return [f"{where}: no signature to compare"]
    real_params = _drop_self([(p.name, _KIND[p.kind], p.default) for p in sig.parameters.values()])
    doc_params = _drop_self(_documented_params(fn))
    problems = []
    if [(n, k) for n, k, _ in doc_params] != [(n, k) for n, k, _ in real_params]:
        problems.append(f"{where}: documented ({', '.join(f'{n} [{k}]' for n, k, _ in doc_params)}) but is "
                        f"({', '.join(f'{n} [{k}]' for n, k, _ in real_params)})")
        return problems
    for (name, _, doc_default), (_, _, real_default) in zip(doc_params, real_params):
        has_real = real_default is not inspect.Parameter.empty
        if (doc_default is not None) != has_real:
            problems.append(f"{where}: parameter {name} {'has' if has_real else 'has no'} default")
        elif doc_default is not None:
            value = eval(compile(ast.Expression(doc_default), where, "eval"), namespace)  # noqa: S307 (our own doc)
            if value != real_default:
                problems.append(f"{where}: parameter {name} defaults to {real_default!r}, documented {value!r}")
    return problems


def _class_sets_attribute(cls: type, name: str) -> bool:
    if any(name in getattr(k, "__annotations__", {}) for k in cls.__mro__) or hasattr(cls, name):
        return True
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return False
    return re.search(rf"\bself\.{re.escape(name)}\s*[:=]", source) is not None


def check_class(node: ast.ClassDef, cls: Any, namespace: dict, where: str) -> list[str]:
    if not isinstance(cls, type):
        return [f"{where}: not a class"]
    problems, names = [], []
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.append(stmt.target.id)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            method = inspect.getattr_static(cls, stmt.name, None)
            if method is None:
                problems.append(f"{where}.{stmt.name}: no such method")
                continue
            if isinstance(method, (classmethod, staticmethod)):
                method = getattr(cls, stmt.name)
            problems += check_function(stmt, method, namespace, f"{where}.{stmt.name}")
    if dataclasses.is_dataclass(cls):
        fields = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
        documented = [n for n in names if n in fields]
        if documented != fields:
            problems.append(f"{where}: fields are {fields}, documented {documented}")
        names = [n for n in names if n not in fields]
    problems += [f"{where}: no attribute {n}" for n in names if not _class_sets_attribute(cls, n)]
    return problems


def check_block(module_name: str, source: str, line: int) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"interfaces.md line {line + (exc.lineno or 1) - 1}: not a Python stub: {exc.msg}"]
    module = importlib.import_module(module_name)
    namespace = dict(vars(module))
    for extra in ("cuewatch.options",):
        namespace.update({k: v for k, v in vars(importlib.import_module(extra)).items() if not k.startswith("_")})
    problems = []
    for stmt in tree.body:
        where = f"{module_name}.{getattr(stmt, 'name', '')} (interfaces.md line {line + stmt.lineno - 1})"
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            real = getattr(module, stmt.name, None)
            if real is None:
                problems.append(f"{where}: not in the module")
            elif isinstance(stmt, ast.ClassDef):
                problems += check_class(stmt, real, namespace, where)
            else:
                problems += check_function(stmt, real, namespace, where)
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            where = f"{module_name}.{name} (interfaces.md line {line + stmt.lineno - 1})"
            if not hasattr(module, name):
                problems.append(f"{where}: not in the module")
            elif getattr(module, name) != ast.literal_eval(stmt.value):
                problems.append(f"{where}: is {getattr(module, name)!r}")
        else:
            problems.append(f"interfaces.md line {line + stmt.lineno - 1}: only defs, classes and "
                            "constants are checked; move this into a comment")
    return problems


def test_interfaces_doc_matches_the_code() -> None:
    blocks = doc_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    problems = [p for module, source, line in blocks for p in check_block(module, source, line)]
    assert problems == [], "docs/interfaces.md is out of date:\n" + "\n".join(problems)


STUB = '''
def f(a, b: int = 2, *, c="x") -> None: ...
@dataclass
class D: x: int; y: str
class C:
    z: int
    def m(self, a, b=1) -> None: ...
K = 3
'''


def _sample_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> str:
    (tmp_path / "cuewatch_doc_sample.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    import sys
    sys.modules.pop("cuewatch_doc_sample", None)
    return "cuewatch_doc_sample"


@pytest.mark.parametrize("code,complaint", [
    ("def f(a, b=2, *, c='x'): pass\n", None),
    ("def f(a, b=2, *, c='x', d=None): pass\n", "documented (a [positional], b [positional], c [keyword])"),
    ("def f(a, b=3, *, c='x'): pass\n", "parameter b defaults to 3"),
    ("def f(a, b=2, c='x'): pass\n", "c [positional]"),
    ("def g(): pass\n", "f (interfaces.md line 2): not in the module"),
])
def test_a_drifted_signature_is_caught(tmp_path, monkeypatch, code: str, complaint: str | None) -> None:
    base = ("from dataclasses import dataclass\n@dataclass\nclass D:\n    x: int\n    y: str\n"
            "class C:\n    def __init__(self):\n        self.z = 1\n    def m(self, a, b=1): pass\nK = 3\n")
    name = _sample_module(tmp_path, monkeypatch, base + code)
    problems = check_block(name, STUB, 1)
    if complaint is None:
        assert problems == []
    else:
        assert any(complaint in p for p in problems), problems


def test_a_missing_or_extra_field_and_attribute_are_caught(tmp_path, monkeypatch) -> None:
    name = _sample_module(tmp_path, monkeypatch,
                          "from dataclasses import dataclass\n@dataclass\nclass D:\n    x: int\n    y: str\n"
                          "    w: float = 0.0\nclass C:\n    def m(self, a, b=1): pass\n"
                          "def f(a, b=2, *, c='x'): pass\nK = 4\n")
    problems = "\n".join(check_block(name, STUB, 1))
    assert "fields are ['x', 'y', 'w'], documented ['x', 'y']" in problems
    assert "no attribute z" in problems
    assert "K (interfaces.md line 8): is 4" in problems
