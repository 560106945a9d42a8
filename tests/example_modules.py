"""Loads the programs in examples/ by file path, as the command line's workflow loader does (their
folder on sys.path: workflows_that_talk imports its two services from examples/talk/)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from romancy_cli.definitions import Registry, WorkflowDefinition
from romancy_cli.records import QueueSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py") if not path.stem.startswith("_"))


def load_example(name: str) -> ModuleType:
    module_name = f"romancy_example_{name}"
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclass and type-hint resolution look modules up here
    spec.loader.exec_module(module)
    return module


def examples_registry() -> Registry:
    """A registry holding exactly the examples' workflows, whatever else a test session loaded
    into the global one (templates, other tests) under the same names."""
    registry = Registry()
    for name in NAMES:
        for value in vars(load_example(name)).values():
            if isinstance(value, WorkflowDefinition):
                registry.workflows[value.name] = value
        for spec in vars(load_example(name)).values():
            if isinstance(spec, QueueSpec):
                registry.queues[spec.name] = spec
    return registry
