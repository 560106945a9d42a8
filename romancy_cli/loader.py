"""Import the user's workflow modules: files, folders of files, or dotted module names.

Workflows register themselves into `romancy_cli.definitions.REGISTRY` when their module is
imported. An import that fails is reported as one line naming the file and line in the
user's code, not as a traceback through importlib.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Iterable, Optional

from .errors import UsageError, user_location


class WorkflowImportError(UsageError):
    """A workflow module could not be imported (exit code 2: the input, here code, is wrong)."""


class WorkflowModuleMissing(WorkflowImportError):
    """A configured workflow module does not exist; the caller knows where it was configured."""


def load_workflows(specs: Iterable[str], root: Optional[Path] = None) -> list[ModuleType]:
    """Import every module in `specs`; `root` goes on sys.path so dotted modules resolve."""
    if root is not None:
        _add_path(str(root))
    modules: list[ModuleType] = []
    for spec in specs:
        modules += load_one(spec)
    return modules


def load_one(spec: str) -> list[ModuleType]:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        return [import_file(p) for p in files]
    if path.suffix == ".py" or path.is_absolute() or os.sep in spec:
        if not path.is_file():
            raise WorkflowModuleMissing(f"workflow module {spec} does not exist")
        return [import_file(path)]
    return [import_dotted(spec)]


def import_file(path: Path) -> ModuleType:
    """Import a .py file under its own name, its folder on sys.path so sibling imports work."""
    path = path.resolve()
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if filename and filename.endswith(path.name) and Path(filename).resolve() == path:
            return module  # already imported (for example as a sibling of another workflow file)
    _add_path(str(path.parent))
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise WorkflowImportError(f"cannot import {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before running: dataclasses and typing look the module up while it executes.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise WorkflowImportError(describe_import_error(exc, str(path))) from exc
    return module


def import_dotted(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise WorkflowModuleMissing(
                f"cannot import workflow module {name!r}: no module named {exc.name!r} "
                f"(searched the project folder and sys.path)"
            ) from exc
        raise WorkflowImportError(describe_import_error(exc, name)) from exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise WorkflowImportError(describe_import_error(exc, name)) from exc


def describe_import_error(exc: BaseException, what: str) -> str:
    """One line: where in the user's code the import failed, and why."""
    location = _user_location(exc)
    reason = f"{type(exc).__name__}: {_short_message(exc)}"
    if location:
        return f"cannot import workflows from {location}: {reason}"
    return f"cannot import workflows from {what}: {reason}"


def _user_location(exc: BaseException) -> Optional[str]:
    if isinstance(exc, SyntaxError) and exc.filename and not exc.filename.startswith("<"):
        return f"{exc.filename}:{exc.lineno}"
    return user_location(exc)


def _short_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return exc.msg
    if isinstance(exc, SystemExit):
        return f"module called exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"


def _module_name(path: Path) -> str:
    """The file's stem, unless that name is taken by another module (then a private name)."""
    stem = path.stem
    if stem.isidentifier() and stem not in sys.modules and not _shadows_installed(stem):
        return stem
    tag = zlib.crc32(str(path).encode()) & 0xFFFFFFFF
    return f"_romancy_workflows_{tag:08x}_{stem if stem.isidentifier() else 'module'}"


def _shadows_installed(name: str) -> bool:
    return name in sys.builtin_module_names or name in getattr(sys, "stdlib_module_names", ())


def _add_path(folder: str) -> None:
    if folder not in sys.path:
        sys.path.insert(0, folder)


def workflow_source(fn: object) -> str:
    """Where a workflow function is defined: its file when known, else its module."""
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    filename = getattr(module, "__file__", None)
    return filename or getattr(fn, "__module__", "?")


def load_hook(spec: str, root: Optional[Path] = None) -> object:
    """The hook named "module:attribute" (config.HOOK_SPEC), the module found from `root` too; a
    class is made with no arguments."""
    if root is not None:
        _add_path(str(root))
    module_name, _, attribute = spec.partition(":")
    try:
        module = import_dotted(module_name)
    except WorkflowImportError as exc:
        raise UsageError(f"hook {spec!r}: {exc}; check `hooks` in [telemetry]") from None
    found: object = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise UsageError(f"hook {spec!r}: module {module_name!r} has no attribute {attribute!r}; "
                             "check `hooks` in [telemetry]")
        found = getattr(found, part)
    if isinstance(found, type):
        try:
            found = found()
        except Exception as exc:
            raise UsageError(f"hook {spec!r}: {attribute}() raised {type(exc).__name__}: {exc}") from None
    return found


__all__ = ["load_hook", "load_workflows", "load_one", "import_file", "import_dotted", "WorkflowImportError",
           "describe_import_error", "workflow_source"]


def loaded_files() -> list[str]:
    """Source files of the loaded workflow and activity definitions (what reload watches)."""
    from .definitions import REGISTRY

    definitions = list(REGISTRY.workflows.values()) + list(REGISTRY.activities.values())
    files = {d.fn.__code__.co_filename for d in definitions if hasattr(d.fn, "__code__")}
    return sorted(f for f in files if os.path.isfile(f))
