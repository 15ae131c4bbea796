"""The backend package's imports form a chain, never a circle (read from the source with ast).

Every import counts: at module level, inside functions (a function-level import that dodges a
cycle is still a cycle), under TYPE_CHECKING, and the package ``__init__`` that importing
``a.b.c`` runs first (``a.b``, unless the importer lives inside it).
"""

import ast
from pathlib import Path

import repaint_fill_backend

PACKAGE_DIR = Path(repaint_fill_backend.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
Graph = dict[str, set[str]]


def package_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> list[str]:
    """Every dotted name the module imports, relative imports made absolute."""
    own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = own_package.split(".")[: len(own_package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names += [f"{base}.{alias.name}" for alias in node.names] + [base]
    return names


def import_graph() -> Graph:
    """Module -> the package's modules it imports (including the packages those run first)."""
    modules = package_modules()
    graph: Graph = {name: set() for name in modules}
    for module, path in modules.items():
        home = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in imported_names(module, path):
            while name and name not in modules:  # `from .x import func` -> module .x
                name = name.rpartition(".")[0]
            if not name.startswith(PACKAGE) or name == module:
                continue
            graph[module].add(name)
            parent = name.rpartition(".")[0]
            while parent not in ("", PACKAGE):
                if not (home == parent or home.startswith(parent + ".")):
                    graph[module].add(parent)  # its __init__ runs before the module
                parent = parent.rpartition(".")[0]
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_backend_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_function_level_and_package_imports():
    graph = import_graph()
    assert f"{PACKAGE}.engine" in graph[f"{PACKAGE}.cli"]  # imported inside fill_and_save
    assert f"{PACKAGE}.guided_diffusion.loading" in graph[f"{PACKAGE}.guided_diffusion"]
    # registry imports guided_diffusion.config, which runs guided_diffusion/__init__ first
    assert f"{PACKAGE}.guided_diffusion" in graph[f"{PACKAGE}.registry"]
    assert len(graph) > 50


def test_a_cycle_is_found_and_printed_in_order():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
