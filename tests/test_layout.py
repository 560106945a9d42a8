"""ARCHITECTURE.md's arrows, checked over every import in the package (lazy ones included; those
under `if TYPE_CHECKING:` are for type checkers only and are left out)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "romancy_cli"

ADAPTERS = ("cli", "http", "serve", "serve_threads", "relay", "metrics", "tracing")
IO_LIBRARIES = ("peewee", "playhouse", "psycopg", "psycopg2", "sqlite3", "typer", "click", "rich", "waitress",
                "watchfiles", "requests", "urllib", "http", "socketserver", "wsgiref", "jinja2")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            hidden.update(id(sub) for sub in ast.walk(node))
    return hidden


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if not node.level:
        return [node.module or ""]
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    if node.module:
        return [".".join(base + [node.module])]
    return [".".join(base + [alias.name]) for alias in node.names]


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports at run time, as absolute names."""
    tree = ast.parse(path.read_text())
    hidden = _type_checking_nodes(tree)
    module, found = _module_name(path), set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(_absolute(node, module, path.name == "__init__.py"))
    return found


def _part(module: str) -> str:
    """The layer a module belongs to: romancy_cli.engine.replay -> engine."""
    return module.split(".")[1] if module.count(".") else module


def _files(part: str) -> list[Path]:
    folder = PACKAGE / part
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{part}.py"]


def _crossings(parts: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)} imports {name}"
            for part in parts for path in _files(part) for name in imports_of(path)
            if name.startswith("romancy_cli.") and _part(name) in targets]


def test_the_checker_sees_lazy_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    sample = PACKAGE / "app.py"
    assert "romancy_cli.store" in imports_of(sample)  # imported inside App.initialize
    assert "romancy_cli.engine.engine" in imports_of(sample)
    assert "romancy_cli.app" not in imports_of(PACKAGE / "http" / "wsgi.py")  # TYPE_CHECKING only


def test_adapters_reach_the_engine_and_store_only_through_app() -> None:
    assert _crossings(ADAPTERS, ("engine", "store")) == []


def test_app_imports_no_adapter() -> None:
    assert _crossings(("app",), ADAPTERS) == []


def test_the_engine_imports_neither_store_nor_adapters_nor_app() -> None:
    assert _crossings(("engine",), ("store", "app") + ADAPTERS) == []


def test_the_store_implements_the_engine_port_and_nothing_else_of_the_engine() -> None:
    reached = {line.rsplit(" ", 1)[1] for line in _crossings(("store",), ("engine",))}
    assert reached <= {"romancy_cli.engine.ports", "romancy_cli.engine.matching"}
    assert _crossings(("store",), ("app",) + ADAPTERS) == []


@pytest.mark.parametrize("path", _files("engine"), ids=lambda p: p.name)
def test_engine_modules_import_no_io_library(path: Path) -> None:
    outside = {name.split(".")[0] for name in imports_of(path)} & set(IO_LIBRARIES)
    assert outside == set(), f"{path.name} imports {sorted(outside)}"


def _circles(arrows: dict[str, list[str]]) -> list[list[str]]:
    """Circles (of any length) in a graph of imports, each as the list of modules around it."""
    found, done = [], set()

    def walk(name: str, trail: list[str]) -> None:
        if name in trail:
            found.append(trail[trail.index(name):] + [name])
        elif name not in done:
            for target in arrows.get(name, []):
                walk(target, trail + [name])
            done.add(name)

    for name in sorted(arrows):
        walk(name, [])
    return found


def _arrows(part: str) -> dict[str, list[str]]:
    modules = {_module_name(path): path for path in _files(part)}
    return {name: sorted(i for i in imports_of(path) if i in modules and i != name) for name, path in modules.items()}


@pytest.mark.parametrize("part", ["cli", "http"])
def test_no_circle_between_modules_of_an_adapter(part: str) -> None:
    assert _circles(_arrows(part)) == []


def test_the_circle_finder_finds_long_circles() -> None:
    assert _circles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c", "a"]]


def test_adapters_use_no_engine_or_store_reached_through_app() -> None:
    reached = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}"
               for part in ADAPTERS for path in _files(part) for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Attribute) and node.attr in ("engine", "store")]
    assert reached == []
