"""How far a reader travels to follow a model from the Classify page to ``core.predict``:
``python -m bench.hops [--baseline [LABEL=]DIR ...] [--clip PATH]``.

Each checkout (this one, and each ``--baseline DIR``: ``git worktree add --detach DIR <commit>`` beside
``../shared``) runs in a fresh process of its own: the Classify page in Streamlit's AppTest with the
default model, opened once and given one clip (as a visitor uploads it), under a call profiler
(``sys.setprofile``/``threading.setprofile``) that records, for every call of a function in the checkout's
own modules (app_pages, ui, core; import-time module bodies left out), the stack of the checkout's
frames that led to it. From those stacks it keeps **the model's path**: the calls that lead from the
page to the model's card, its loading (registry → card → network), ``core.predict.classify`` and,
inside it, wherever the model is used (its registry entry, card or network), with everything those
calls do below them (the rest of ``classify``'s work is the analysis, not the model's path; it is
counted with the whole page's calls in ``whole_page``). Counted on each:

- ``modules``: distinct repo modules entered;
- ``hops``: calls that go from one module into another (distinct caller → callee functions);
- ``back_and_forth``: those hops into a module that is already on the stack below, i.e. the path left it
  and comes back (A → B → A: a callback, or a helper split from what it belongs with), listed in
  ``back_and_forth_edges``;
- ``import_edges`` / ``import_cycles``: a static count over the same modules: which of them import one
  another (top-level or inside a function), and how many pairs import each other.

Writes ``bench/results/hops.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "hops.json"
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "gtzan" / "rock" / "rock.00000.ogg"
PAGE = "app_pages.classify"
SOURCES = ("app_pages", "ui", "core")  # the checkout's own code (tests and benches are not the app)
# Where the model's path ends (not followed below) and what of the model is followed all the way down.
TARGET = ("core.predict", "classify")
MODEL_MODULES = ("core.models.registry", "core.models.model_card", "core.models.inference")

Frame = tuple[str, str]  # (module, function's qualified name)


def module_of(root: Path, filename: str) -> str | None:
    """The dotted module name of a file of the checkout's own code, else None."""
    try:
        parts = Path(filename).resolve().relative_to(root).with_suffix("").parts
    except ValueError:
        return None
    if not parts or parts[0] not in SOURCES:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def trace_page(root: Path, clip: Path) -> list[tuple[tuple[Frame, ...], int]]:
    """Every distinct stack of the checkout's frames seen at a call while the Classify page opens and
    classifies ``clip`` (AppTest, in this process), with how often it was seen."""
    from streamlit.testing.v1 import AppTest

    modules: dict[str, str | None] = {}
    stacks: Counter = Counter()

    def module(code) -> str | None:
        name = modules.get(code.co_filename, "")
        if name == "":
            name = modules[code.co_filename] = module_of(root, code.co_filename)
        return name

    def profile(frame, event, arg) -> None:
        if event != "call" or module(frame.f_code) is None:
            return
        stack = []
        while frame is not None:
            name = module(frame.f_code)
            if name is not None:
                if frame.f_code.co_name == "<module>" and name != PAGE:
                    return  # an import's module body, not the page's path
                stack.append((name, frame.f_code.co_qualname))
            frame = frame.f_back
        stacks[tuple(reversed(stack))] += 1

    at = AppTest.from_file(str(root / "app.py"), default_timeout=600)
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        at.switch_page("app_pages/classify.py").run()
        at.file_uploader(key="classify_files").set_value([(clip.name, clip.read_bytes(), "audio/ogg")]).run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    if at.exception or not any('data-genre="' in m.value for m in at.markdown):
        raise SystemExit(f"the page did not classify {clip}: {at.exception or at.error}")
    return list(stacks.items())


def model_path(stacks: list[tuple[tuple[Frame, ...], int]]) -> set[tuple[Frame, ...]]:
    """The stacks (and their beginnings) from the page into the model's modules (wherever the page, or
    ``classify`` with the model it was given, enters them; followed all the way down) and into
    :data:`TARGET` (not followed below it otherwise)."""
    kept = set()
    for stack in page_stacks(stacks):
        if any(module in MODEL_MODULES for module, _ in stack):
            kept.add(stack)
        elif TARGET in stack:
            kept.add(stack[:stack.index(TARGET) + 1])
    return {stack[:i] for stack in kept for i in range(1, len(stack) + 1)}


def page_stacks(stacks: list[tuple[tuple[Frame, ...], int]]) -> set[tuple[Frame, ...]]:
    """Every stack that starts on the page (the whole classification, its figures and words included)."""
    return {stack for stack, _ in stacks if stack and stack[0][0] == PAGE}


def counts(paths: set[tuple[Frame, ...]]) -> dict:
    """Modules entered, hops between modules and back-and-forth hops along ``paths``."""
    hops, back = set(), set()
    for stack in paths:
        for i in range(1, len(stack)):
            caller, callee = stack[i - 1], stack[i]
            if caller[0] != callee[0]:
                hops.add((caller, callee))
                if callee[0] in {module for module, _ in stack[:i - 1]}:
                    back.add((caller, callee))
    name = ":".join
    return {"modules": sorted({module for stack in paths for module, _ in stack}), "hops": len(hops),
            "back_and_forth": len(back),
            "back_and_forth_edges": sorted(f"{name(a)} -> {name(b)}" for a, b in back)}


def imported(root: Path, module: str) -> set[str]:
    """The checkout's modules that ``module`` imports (at the top or inside a function)."""
    path = root / Path(*module.split("."))
    file = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]

    def exists(name: str) -> bool:
        where = root / Path(*name.split("."))
        return where.with_suffix(".py").exists() or (where / "__init__.py").exists()

    found = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base] * bool(base))
            names = [f"{base}.{alias.name}" if exists(f"{base}.{alias.name}") else base for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.split(".")[0] in SOURCES and exists(name) and name != module}
    return found


def static_counts(root: Path, modules: list[str]) -> dict:
    """Imports among ``modules`` and the pairs of them that import each other."""
    graph = {module: imported(root, module) & set(modules) for module in modules}
    edges = [(a, b) for a in graph for b in graph[a]]
    return {"import_edges": len(edges),
            "import_cycles": sorted(f"{a} <-> {b}" for a, b in edges if a < b and a in graph[b])}


def measure(root: Path, clip: Path) -> dict:
    """This process's measurement of the checkout ``root`` (run with ``root`` first on sys.path)."""
    start = time.perf_counter()
    stacks = trace_page(root, clip)
    path, page = counts(model_path(stacks)), counts(page_stacks(stacks))
    path.update(static_counts(root, path["modules"]))
    return {"model_path": path, "whole_page": page, "seconds": round(time.perf_counter() - start, 1)}


def run_checkout(root: Path, clip: Path) -> dict:
    """:func:`measure` of ``root`` in a fresh Python process whose imports come from ``root``."""
    done = subprocess.run([sys.executable, __file__, "--measure", str(root), "--clip", str(clip)], cwd=root,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"measuring {root} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def commit(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True, check=False).stdout.strip()[:90]


def table(results: dict) -> str:
    """The Markdown table of ``results['checkouts']``."""
    rows = ["| checkout | model path: modules | hops | back-and-forth | imports among them | whole page: modules "
            "| hops | back-and-forth |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["checkouts"].items():
        p, w = r["model_path"], r["whole_page"]
        rows.append(f"| {name} (`{r['commit'].split()[0]}`) | {len(p['modules'])} | {p['hops']} | "
                    f"{p['back_and_forth']} | {p['import_edges']} | {len(w['modules'])} | {w['hops']} | "
                    f"{w['back_and_forth']} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", nargs="*", default=[], metavar="[LABEL=]DIR",
                        help="other checkouts, measured the same way in the same run (listed first)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the clip the page classifies")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process's checkout
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure.resolve(), args.clip.resolve())))
        return
    roots: dict[str, Path] = {}
    for i, item in enumerate(args.baseline):
        label, _, root = item.rpartition("=")
        roots[label or f"baseline {i + 1}"] = Path(root)
    roots["now"] = REPO
    results: dict = {"clip": str(args.clip), "load_average_1min": {"before": round(os.getloadavg()[0], 2)},
                     "python": platform.python_version(), "checkouts": {}}
    for name, root in roots.items():
        results["checkouts"][name] = {"root": str(root), "commit": commit(root),
                                      **run_checkout(root.resolve(), args.clip.resolve())}
    results["load_average_1min"]["after"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":  # the child: the measured checkout's code first
        sys.path[0] = str(Path(sys.argv[2]).resolve())
    main()
