"""The package layout tells the flow: every module imports, no cycle between modules, and no
import runs upward between the stage packages (ARCHITECTURE.md gives the order). Also: every
path ARCHITECTURE.md names exists."""

import ast
import importlib
import os
import pkgutil
import re

import llmrun

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Top to bottom: a package may import the ones after it, never one before it.
LAYERS = ["cli", "api", "loop", "wire", "settings", "tools", "sandbox", "output", "runlog", "base"]


def modules():
    return sorted(m.name for m in pkgutil.walk_packages(llmrun.__path__, "llmrun."))


def imports_of(name):
    """Every llmrun module `name` imports, at the top or inside a function (not under
    TYPE_CHECKING)."""
    spec = importlib.util.find_spec(name)
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    package = name if spec.submodule_search_locations else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("llmrun"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if not base.startswith("llmrun"):
                continue
            for alias in node.names:  # `from llmrun.x import y`: y may be a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if importlib.util.find_spec(base) and
                          _is_module(candidate) else base)
    return {m for m in found if m != name}


def _is_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def layer(name):
    parts = name.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in LAYERS else None


#: Outside the stages, and allowed to reach into them: the entry points. `llmrun` itself is
#: the library's front door (its functions import llmrun.api when called).
ENTRY_POINTS = ("llmrun", "llmrun.__main__")


def test_every_module_imports():
    for name in modules():
        importlib.import_module(name)


def test_no_upward_import_between_the_stage_packages():
    upward = []
    for name in modules():
        mine = layer(name)
        for target in imports_of(name):
            theirs = layer(target)
            if mine and theirs and LAYERS.index(theirs) < LAYERS.index(mine):
                upward.append(f"{name} -> {target}")
            if not mine and theirs and name not in ENTRY_POINTS:
                upward.append(f"{name} (outside the stages) -> {target}")
    assert upward == []


def test_no_import_cycle_between_modules():
    graph = {name: imports_of(name) & set(modules()) for name in modules()}
    graph = {k: {t for t in v if not graph.get(t) is None} for k, v in graph.items()}
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt.endswith("__init__") or (nxt + ".__init__") == node:
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    packages = {m for m in modules() if importlib.util.find_spec(m).submodule_search_locations}
    cycles = [c for c in cycles if not any(p in c.split(" -> ") for p in packages)]
    assert cycles == []


def test_the_graph_sees_a_real_edge():
    """The checker can fail: it sees that the command line runs the library, and the library
    the loop."""
    assert "llmrun.api.run" in imports_of("llmrun.cli.ask")
    assert "llmrun.loop.run" in imports_of("llmrun.api.run")
    assert layer("llmrun.cli.ask") == "cli" and layer("llmrun.base.errors") == "base"


def test_every_path_architecture_md_names_exists():
    text = open(os.path.join(ROOT, "ARCHITECTURE.md"), encoding="utf-8").read()
    paths = set(re.findall(r"`((?:llmrun|tests|bench|samples|tools)/[\w./-]*)`", text))
    assert len(paths) > 20
    missing = [p for p in sorted(paths) if not os.path.exists(os.path.join(ROOT, p))]
    assert missing == []
    for pkg in LAYERS:
        assert f"`llmrun/{pkg}/`" in text


def test_no_test_folder_shadows_a_dependency():
    """tests/ is on sys.path (conftest): a folder there named like a package (say `mcp`)
    would be imported instead of it — `importorskip("mcp")` would never skip, and the MCP
    tests would hang without the SDK."""
    tests = os.path.join(ROOT, "tests")
    for name in ("mcp", "mcp_server_time", "hypothesis", "pytest", "click", "requests",
                 "yaml", "jsonschema", "llmrun"):
        assert not os.path.exists(os.path.join(tests, name)), name
        spec = importlib.util.find_spec(name)
        origin = (spec.origin or "") if spec else ""
        paths = list(spec.submodule_search_locations or []) if spec else []
        assert not any(p.startswith(tests) for p in [origin, *paths]), (name, origin, paths)
