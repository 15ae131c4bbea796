"""The backend's and the developer tools' imports form chains, never circles, and go one way:
tools -> backend, never backend -> tools (read from the source with ast).

Every import counts: at module level, inside functions (a function-level import that dodges a
cycle is still a cycle), under TYPE_CHECKING, and the package ``__init__`` that importing
``a.b.c`` runs first (``a.b``, unless the importer lives inside it).
"""

import ast
from pathlib import Path

import repaint_fill_backend
import repaint_fill_tools

PACKAGE_DIR = Path(repaint_fill_backend.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
TOOLS_DIR = Path(repaint_fill_tools.__file__).resolve().parent
TOOLS = TOOLS_DIR.name
# The CLI's lazy loaders of `repaint-fill bench` and `train` (import_module of these names, only
# when that subcommand runs): the one place the backend may name the tools.
CLI_TOOLS_LOADERS = {TOOLS, f"{TOOLS}.bench", f"{TOOLS}.training.train"}
Graph = dict[str, set[str]]


def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
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


def import_graph(package_dir: Path = PACKAGE_DIR) -> Graph:
    """Module -> the package's modules it imports (including the packages those run first)."""
    modules = package_modules(package_dir)
    package = package_dir.name
    graph: Graph = {name: set() for name in modules}
    for module, path in modules.items():
        home = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in imported_names(module, path):
            while name and name not in modules:  # `from .x import func` -> module .x
                name = name.rpartition(".")[0]
            if not name.startswith(package) or name == module:
                continue
            graph[module].add(name)
            parent = name.rpartition(".")[0]
            while parent not in ("", package):
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


def named_modules(path: Path) -> set[str]:
    """Every string constant in the module that is a dotted name (what import_module gets)."""
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and node.value.replace("_", "a").replace(".", "").isalnum()
    }  # fmt: skip


def test_the_backend_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_tools_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph(TOOLS_DIR))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_backend_never_imports_the_tools():
    for module, path in package_modules().items():
        imported = [n for n in imported_names(module, path) if n.partition(".")[0] == TOOLS]
        assert not imported, f"{module} imports {imported}: the dependency is tools -> backend"
        named = {n for n in named_modules(path) if n.partition(".")[0] == TOOLS}
        if module == f"{PACKAGE}.cli":
            assert named and named <= CLI_TOOLS_LOADERS, named
        else:
            assert not named, f"{module} names {named}: only the CLI's lazy loaders may"


def test_the_tools_import_only_modules_the_backend_has():
    backend = set(package_modules())
    for module, path in package_modules(TOOLS_DIR).items():
        for name in imported_names(module, path):
            if name.partition(".")[0] != PACKAGE:
                continue
            while name and name not in backend:  # `from pkg.x import func` -> module pkg.x
                name = name.rpartition(".")[0]
            assert name, f"{module} imports a backend module that does not exist"


def test_the_graph_sees_function_level_and_package_imports():
    graph = import_graph()
    assert f"{PACKAGE}.engine" in graph[f"{PACKAGE}.cli"]  # imported inside fill_and_save
    assert f"{PACKAGE}.guided_diffusion.loading" in graph[f"{PACKAGE}.guided_diffusion"]
    # registry imports guided_diffusion.config, which runs guided_diffusion/__init__ first
    assert f"{PACKAGE}.guided_diffusion" in graph[f"{PACKAGE}.registry"]
    tools = import_graph(TOOLS_DIR)
    # train imports model_card inside a function; bench/__init__ imports runner inside two
    assert f"{TOOLS}.training.model_card" in tools[f"{TOOLS}.training.train"]
    assert f"{TOOLS}.bench.runner" in tools[f"{TOOLS}.bench"]
    assert len(graph) + len(tools) > 50  # both packages' modules (one package until issue 18)


def test_a_cycle_is_found_and_printed_in_order():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
