"""The library's floors: no import cycle, and the configuration imports nothing above it.

Imports are read from the source (every ``import``, inside functions too), so a cycle hidden in a
lazy import fails here as well.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "sdft_lib"

# The floors of ARCHITECTURE.md. A module may import from its own floor and the floors below.
FLOORS = {
    0: "errors metrics templates chat teaching_world.world benchmarks generation code_exec likelihood "
    "teaching_world.model standin reference book book.prose book.profile instruction_probe stats report "
    "results "
    "figures verdict hft tempbalance",
    1: "config",
    2: "runs hardware parallel",
    3: "teaching_world.build packaged",
    4: "data models",
    5: "runtime paper_eval lm_eval_tasks self_distillation",
    6: "training evaluation distribution_gap preflight cli book.status on_policy probes",
    7: "frontier real_model merging promot",
}
FLOOR = {f"sdft_lib.{m}": n for n, names in FLOORS.items() for m in names.split()}
GROUND = {m for m, n in FLOOR.items() if n == 0}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = f.with_suffix("").relative_to(ROOT.parent).parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = (
                    ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level
                    else node.module
                )
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                graph[m] |= {t for t in subs or [base] if t in mods and t != m}
            elif isinstance(node, ast.Import):
                graph[m] |= {a.name for a in node.names if a.name in mods and a.name != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_walker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_sdft_lib():
    assert cycles(import_graph()) == []


def test_the_ground_floor_and_the_config_import_nothing_above_them():
    graph = import_graph()
    assert set(graph) >= GROUND
    for m in GROUND:
        assert graph[m] <= GROUND, (m, graph[m] - GROUND)
    assert graph["sdft_lib.config"] <= GROUND, graph["sdft_lib.config"] - GROUND


def test_every_module_has_a_floor_and_imports_only_downwards():
    graph = import_graph()
    modules = {m for m in graph if m not in ("sdft_lib", "sdft_lib.teaching_world")}  # package __init__s
    assert modules == set(FLOOR), modules ^ set(FLOOR)
    upward = [(m, t) for m in modules for t in graph[m] if t in FLOOR and FLOOR[t] > FLOOR[m]]
    assert upward == []
