"""The dependency rule of DESIGN.md, checked on the source with `ast`.

core/      imports neither handlers, bots nor any messenger or web SDK
handlers/  imports core, never bots or an SDK
bots/      may import handlers and core (and the SDKs)
cli/       the operator's commands: core only (they print; no messenger, no web)
main.py    is the entry, workers/ the job wiring: only the composition root (app/) imports them
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("aiogram", "vk_api", "twilio", "aiohttp")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": (*SDKS, "bots", "handlers", "cli", "main", "workers", "taskiq"),
    "handlers": (*SDKS, "bots", "cli", "main", "workers", "taskiq"),
    "bots": ("cli", "main", "workers"),
    "cli": (*SDKS, "bots", "handlers", "main", "workers"),
}
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def python_files(package: str) -> list[Path]:
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
