"""Nothing in the app runs code from data: no pickle (or its relatives), no eval/exec, no numpy
``allow_pickle=True``, and every Keras model load passes ``safe_mode=True``. Checked on the syntax
tree of every source file of the app, the CLI and the benchmarks (docstrings and comments do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([REPO / "app.py", *(p for d in ("core", "app_pages", "ui", "bench") for p in (REPO / d).rglob("*.py"))])
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}
UNSAFE_CALLS = {"eval", "exec", "__import__", "read_pickle", "to_pickle", "enable_unsafe_deserialization"}


def offences(tree: ast.AST) -> list[str]:
    """Every unsafe construct in ``tree``, as 'line: what'."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{node.lineno}: imports {n}" for n in names if n and n.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in UNSAFE_CALLS:
            found.append(f"{node.lineno}: calls {name}()")
        keywords = {k.arg: k.value for k in node.keywords}
        for flag, unsafe in (("allow_pickle", True), ("safe_mode", False)):
            if isinstance(keywords.get(flag), ast.Constant) and keywords[flag].value is unsafe:
                found.append(f"{node.lineno}: {flag}={unsafe}")
        chain = ast.unparse(func)
        if name == "load_model" and ("keras" in chain or "saving" in chain):
            mode = keywords.get("safe_mode")
            if not (isinstance(mode, ast.Constant) and mode.value is True):
                found.append(f"{node.lineno}: {chain}() without safe_mode=True")
    return found


def test_sources_are_found() -> None:
    assert REPO / "core" / "models" / "registry.py" in SOURCES and len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(REPO)) for p in SOURCES])
def test_no_pickle_eval_or_unsafe_model_loading(path: Path) -> None:
    assert offences(ast.parse(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("code", [
    "import pickle", "from joblib import load", "eval(text)", "np.load(f, allow_pickle=True)",
    "keras.models.load_model(p)", "keras.saving.load_model(p, safe_mode=False)", "pd.read_pickle(p)",
])
def test_the_check_catches_each_unsafe_construct(code: str) -> None:
    assert offences(ast.parse(code))
