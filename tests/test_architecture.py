"""The dependency rule of DESIGN.md, checked on the source with `ast`.

core/      imports no other layer and no messenger, web or task-queue SDK; its contexts import
           each other without cycles (core.shared and core.db import no context at all)
handlers/  imports core, never bots, web, the runtime or an SDK
bots/      may import handlers and core (and the SDKs), never web, the runtime or the CLI
web/       reaches the messenger SDKs only through bots
workers/   the task queue: no messenger SDK
cli/       the operator's commands: core only (they print; no messenger, no web)
app/       the composition root: only main.py, cli/, workers/ (and tests and tools) use it
main.py    is the entry: nothing imports it; workers/ the task queue's wiring

A package that does not exist yet (web/, workers/ while they are being written) has nothing to
break: its rules hold trivially and start to bite with its first file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MESSENGER_SDKS = ("aiogram", "vk_api", "twilio")
SDKS = (*MESSENGER_SDKS, "aiohttp")
ENTRIES = ("main",)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": (*SDKS, "taskiq", "bots", "handlers", "web", "app", "workers", "cli", *ENTRIES),
    "handlers": (*SDKS, "taskiq", "bots", "web", "app", "workers", "cli", *ENTRIES),
    "bots": ("web", "app", "workers", "cli", *ENTRIES),
    "web": (*MESSENGER_SDKS, "app", "cli", *ENTRIES),
    "workers": MESSENGER_SDKS,
    "cli": (*SDKS, "bots", "handlers", *ENTRIES),
}
# Packages that exist today and must keep having files (a renamed folder must not silently
# turn its rules off); the others may not have been created yet.
ESTABLISHED = ("core", "handlers", "bots", "cli")
# Who may import the composition root: the entry, the commands and the workers it runs, and
# the tools around them (tests, benchmarks, the migrations' environment).
APP_USERS = ("app", "main", "cli", "workers", "tests", "bench", "migrations")
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def python_files(package: str) -> list[Path]:
    if (ROOT / f"{package}.py").is_file():
        return [ROOT / f"{package}.py"]
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_relative(path: Path, level: int, module: str | None) -> str:
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, module] if module else base)


def imports_of(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module a file imports (also inside functions, and importlib with a literal)."""
    if source is None:
        source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = resolve_relative(path, node.level, node.module)
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:  # `from core import handlers`-style submodules
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (
                name in DYNAMIC_IMPORTERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                yield node.lineno, node.args[0].value


def top_package(module: str) -> str:
    return module.split(".")[0]


def violations(package: str) -> list[str]:
    found: list[str] = []
    for path in python_files(package):
        for line, module in imports_of(path):
            if top_package(module) in FORBIDDEN[package]:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(found))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_what_the_dependency_rule_allows(package: str) -> None:
    if package in ESTABLISHED:
        assert python_files(package), f"no Python files found under {package}/"

    found = violations(package)

    assert found == [], f"{package}/ breaks the dependency rule:\n" + "\n".join(found)


def test_the_import_scanner_sees_what_the_adapters_import() -> None:
    """A control: the scanner must find the SDK and handlers imports the bots do have."""
    seen = {top_package(module) for path in python_files("bots") for _, module in imports_of(path)}

    assert {"aiogram", "aiohttp", "handlers", "core"} <= seen


def test_the_scanner_resolves_relative_and_dynamic_imports() -> None:
    source = (
        "from . import views\n"
        "from ..bots import telegram\n"
        "import importlib\n"
        "def later():\n"
        "    import aiogram.types\n"
        "    return importlib.import_module('twilio.rest')\n"
    )
    pretend = ROOT / "handlers" / "probe.py"

    modules = {module for _, module in imports_of(pretend, source)}

    assert {"handlers", "handlers.views", "bots", "bots.telegram"} <= modules
    assert {"aiogram.types", "twilio.rest"} <= modules
    assert {top_package(module) for module in modules} & set(FORBIDDEN["handlers"])


def top_level_packages() -> list[str]:
    """Every package and module of the project's root that holds Python code."""
    names = {path.stem for path in ROOT.glob("*.py")}
    names |= {path.name for path in ROOT.iterdir() if path.is_dir() and any(path.rglob("*.py"))}
    return sorted(name for name in names if not name.startswith("."))


def test_only_the_entry_points_import_the_composition_root() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for package in top_level_packages()
        if package not in APP_USERS
        for path in python_files(package)
        for line, module in imports_of(path)
        if top_package(module) == "app"
    ]

    assert found == [], "only main.py, cli/ and workers/ build the runtime:\n" + "\n".join(found)


# ---------------------------------------------------------------------------- cycles in core
def module_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports, at any depth of the file (a function,
    an `if TYPE_CHECKING:` block): a cycle hidden from the interpreter is still a cycle."""
    paths = sorted((root / package).rglob("*.py"))

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    modules = {name_of(path): path for path in paths}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _line, imported in _imports_under(root, path):
            target = _longest_known(imported, modules)
            if target is not None and target != name and target != package:
                graph[name].add(target)
    return graph


def _imports_under(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    if root == ROOT:
        yield from imports_of(path)
        return
    # A planted tree elsewhere: absolute imports only, which is all the control uses.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _longest_known(imported: str, modules: dict[str, Path]) -> str | None:
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    done: set[str] = set()
    on_path: list[str] = []
    on_path_set: set[str] = set()

    def visit(node: str) -> list[str] | None:
        on_path.append(node)
        on_path_set.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor in on_path_set:
                return [*on_path[on_path.index(successor) :], successor]
            if successor not in done:
                found = visit(successor)
                if found:
                    return found
        on_path.pop()
        on_path_set.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            found = visit(start)
            if found:
                return found
    return None


def context_of(module: str) -> str:
    """core.members.accounts -> core.members; core.program -> core.program."""
    return ".".join(module.split(".")[:2])


def context_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    contexts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = context_of(module)
        contexts.setdefault(source, set())
        contexts[source] |= {context_of(t) for t in targets if context_of(t) != source}
    return contexts


def test_core_modules_import_each_other_without_cycles() -> None:
    cycle = find_cycle(module_graph(ROOT, "core"))

    assert cycle is None, "import cycle in core: " + " -> ".join(cycle or [])


def test_core_contexts_import_each_other_without_cycles() -> None:
    cycle = find_cycle(context_graph(module_graph(ROOT, "core")))

    assert cycle is None, "cycle between core's contexts: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("bottom", ["core.shared", "core.db"])
def test_shared_and_db_are_the_bottom_of_core(bottom: str) -> None:
    contexts = context_graph(module_graph(ROOT, "core"))

    assert contexts[bottom] <= {"core.shared", "core.db"}, f"{bottom} imports {contexts[bottom]}"


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path: Path) -> None:
    """A control: a cycle through a TYPE_CHECKING import and across two contexts is found."""
    for folder in ("pkg", "pkg/left", "pkg/right"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "pkg/left/a.py").write_text("from pkg.right.b import B\n")
    (tmp_path / "pkg/right/b.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.left import a\n"
        "class B: ...\n"
    )
    (tmp_path / "pkg/right/c.py").write_text("from pkg.right.b import B\n")

    graph = module_graph(tmp_path, "pkg")

    assert find_cycle(graph) == ["pkg.left.a", "pkg.right.b", "pkg.left.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
    by_context = {
        "pkg.left": {"pkg.right"},
        "pkg.right": {"pkg.left"},
    }
    assert find_cycle(by_context) == ["pkg.left", "pkg.right", "pkg.left"]
    assert find_cycle(context_graph(graph)) == ["pkg.left", "pkg.right", "pkg.left"]
    # And on the real tree, the graph does see imports, relative ones and between contexts.
    core = module_graph(ROOT, "core")
    assert "core.ledger.entries" in core["core.earning.purchases"]
    assert {"core.members", "core.earning"} <= context_graph(core)["core.referrals"]
