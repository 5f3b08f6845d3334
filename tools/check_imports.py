"""Check rbmlib's import structure: layers, no cycles, no private names across modules.

Usage::

    python tools/check_imports.py            # prints the module graph by layer and any problem; exit 1 if any
    python tools/check_imports.py --graph    # also every module's rbmlib imports

Every ``import`` / ``from ... import`` statement of every module under ``rbmlib/`` counts,
at module level or inside a function (a lazy import is still a dependency). Rules
(ARCHITECTURE.md):

1. **Layers**: a module imports only modules of its own layer or of lower layers
   (numerics < support < science < application); the package ``rbmlib/__init__.py`` and
   ``rbmlib/__main__.py`` sit on top.
2. **No cycles**: the graph of imports between modules is acyclic (a module importing its
   own package's ``__init__`` for re-exported names counts as importing that package).
3. **No private names across modules**: ``from rbmlib.x import _name`` (or ``x._name``)
   is allowed only inside the module that defines ``_name``.

``KNOWN`` lists the exceptions that remain, each with the reason and who removes it.
``tests/test_architecture.py`` runs this check.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rbmlib"

#: layer of each module (by dotted name prefix, longest match wins)
LAYERS = {
    "rbmlib.kernels": 0,
    "rbmlib._version": 1, "rbmlib._validation": 1, "rbmlib._io": 1, "rbmlib._locking": 1, "rbmlib._blas": 1,
    "rbmlib.stats": 1, "rbmlib.provenance": 1, "rbmlib.datasets": 1,
    "rbmlib.model": 2, "rbmlib.exact": 2, "rbmlib.sampling": 2, "rbmlib.ensemble": 2, "rbmlib.thermo": 2,
    "rbmlib.xft": 2, "rbmlib.cd": 2, "rbmlib.ais": 2, "rbmlib.tempering": 2, "rbmlib.training": 2,
    "rbmlib.diagnostics": 2, "rbmlib.reference_models": 2,
    "rbmlib.plotting": 3, "rbmlib.widgets": 3, "rbmlib.report": 3, "rbmlib.cli": 3,
    "rbmlib": 4, "rbmlib.__main__": 4,
}
LAYER_NAMES = ("numerics", "support", "science", "application", "package")

#: (importer, imported, what) exceptions still in the code, with the reason
KNOWN = {
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(name: str) -> int:
    best, layer = "", None
    for prefix, lay in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
            best, layer = prefix, lay
    if layer is None:
        raise SystemExit(f"tools/check_imports.py: module {name} has no layer; add it to LAYERS (ARCHITECTURE.md)")
    return layer


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(path: Path, modules: set[str]):
    """Yield (imported module, imported name or None, line) for every rbmlib import in ``path``."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rbmlib":
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            if base.split(".")[0] != "rbmlib":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:            # "from . import exact": the module itself
                    yield sub, None, node.lineno
                else:
                    yield base, alias.name, node.lineno
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pass


def private_attribute_uses(path: Path, aliases: dict[str, str]):
    """``mod._name`` where ``mod`` is a name bound to another rbmlib module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            yield aliases[node.value.id], node.attr, node.lineno


def module_aliases(path: Path, modules: set[str]) -> dict[str, str]:
    name = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    out[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.asname:
                    out[alias.asname] = alias.name
    return out


def check(verbose: bool = False) -> list[str]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems, known_seen = [], set()

    def owner(target: str) -> str:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target

    for f in files:
        me = module_name(f)
        for target, name, line in imports_of(f, modules):
            mod = owner(target)
            if not mod or mod == me:
                continue
            if name is not None and f"{mod}.{name}" in modules:
                mod = f"{mod}.{name}"
                name = None
            graph[me].add(mod)
            if name is not None and name.startswith("_") and not name.startswith("__"):
                if (me, mod) in KNOWN:
                    known_seen.add((me, mod))
                else:
                    problems.append(f"{f.relative_to(ROOT)}:{line}: imports the private name {name} of {mod}")
        for mod, attr, line in private_attribute_uses(f, module_aliases(f, modules)):
            if mod != me:
                if (me, mod) in KNOWN:
                    known_seen.add((me, mod))
                else:
                    problems.append(f"{f.relative_to(ROOT)}:{line}: uses the private name {attr} of {mod}")
    # layers
    for me, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if dep in ("rbmlib",) and me.startswith("rbmlib."):
                # importing the package's __init__ (e.g. __version__) from inside is an upward edge
                if me == "rbmlib.__main__":
                    continue
            if layer_of(dep) > layer_of(me) and not (dep.startswith(me + ".")):
                if (me, dep) in KNOWN:
                    known_seen.add((me, dep))
                    continue
                problems.append(f"{me} ({LAYER_NAMES[layer_of(me)]}) imports {dep} "
                                f"({LAYER_NAMES[layer_of(dep)]}), a higher layer")
    # cycles (Tarjan's strongly connected components), ignoring the KNOWN edges
    edges = {m: {d for d in deps if (m, d) not in KNOWN and not d.startswith(m + ".")} for m, deps in graph.items()}
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
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
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for m in sorted(edges):
        if m not in index:
            strong(m)
    for comp in sccs:
        problems.append("import cycle: " + " -> ".join(comp))
    stale = [k for k in KNOWN if k not in known_seen and k[1] not in graph.get(k[0], set())]
    for k in stale:
        problems.append(f"KNOWN exception {k} no longer occurs: delete it from tools/check_imports.py")
    if verbose:
        for lay, lname in enumerate(LAYER_NAMES):
            mods = sorted(m for m in modules if layer_of(m) == lay)
            print(f"{lname}:")
            for m in mods:
                deps = sorted(d for d in graph[m] if not d.startswith(m + "."))
                print(f"  {m} -> {', '.join(deps) if deps else '(nothing in rbmlib)'}")
    return problems


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    problems = check(verbose="--graph" in argv)
    for k, why in sorted(KNOWN.items()):
        print(f"known exception: {k[0]} -> {k[1]}: {why}")
    if problems:
        print("\n".join(problems))
        return 1
    print("import structure OK: layers respected, no cycles, no private names across modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
