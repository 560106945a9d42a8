"""Golden histories (tests/golden/*.json) replayed against the examples' current code.

A change that breaks instances already stored by users (renamed steps, reordered calls, a changed
result format) fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from romancy_cli import App
from romancy_cli.definitions import WorkflowDefinition
from romancy_cli.engine import replay
from romancy_cli.records import RUNNING, Commit, Instance, Step, Transition

from example_modules import examples_registry, load_example

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted(GOLDEN.glob("*.json"))
NOW = 1_800_000_000.0


class NoNewWork:
    """Hooks for a replay that history should answer completely (up to the final wait)."""

    def __init__(self) -> None:
        self.side_effects = 0

    def now(self) -> float:
        return NOW

    def before_side_effect(self, ctx: Any) -> None:
        self.side_effects += 1

    def find_event(self, ctx: Any, event_type: str, match: Optional[dict]) -> Optional[dict]:
        return None

    def failed_attempts(self, seq: int) -> int:
        return 0


def _load(path: Path) -> tuple[dict, WorkflowDefinition, list[Step]]:
    golden = json.loads(path.read_text())
    module = load_example(golden["example"])
    definitions = [v for v in vars(module).values()
                   if isinstance(v, WorkflowDefinition) and v.name == golden["workflow"]]
    assert definitions, f"{path.name}: examples/{golden['example']}.py has no workflow {golden['workflow']!r}"
    steps = [Step(s["seq"], s["kind"], s["name"], s["result"]) for s in golden["steps"]]
    return golden, definitions[0], steps


def test_golden_files_exist():
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_history_replays_purely(path: Path, capsys):
    golden, definition, steps = _load(path)
    hooks = NoNewWork()
    outcome, _ = replay.run(definition, "golden-1", golden["input"]["args"], golden["input"]["kwargs"],
                            steps, hooks)
    expect = golden["expect"]
    if expect["status"] == "completed":
        assert isinstance(outcome, replay.Completed), outcome
        assert (outcome.steps, outcome.output) == ([], expect["output"])
    else:
        assert isinstance(outcome, replay.Suspended), outcome
        wait = outcome.wait
        assert outcome.steps == []
        assert {"kind": wait.kind, "seq": wait.seq, "event_type": wait.event_type, "match": wait.match} \
            == expect["wait"]
    assert hooks.side_effects == 0  # nothing recorded was executed again


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_history_resumes_from_a_sqlite_store(path: Path, tmp_path: Path, capsys):
    golden, definition, steps = _load(path)
    with App(database=str(tmp_path / "golden.db"), worker_id="golden", registry=examples_registry()) as app:
        store = app.engine.store
        loader = "golden-loader"
        created = Instance("golden-1", golden["workflow"], RUNNING, golden["input"]["args"],
                           golden["input"]["kwargs"], NOW, NOW, lease_owner=loader, lease_until=NOW + 30)
        # as if left running, unleased, by an earlier worker
        store.commit(Commit("golden-1", steps, Transition(RUNNING), create=created), loader, NOW, NOW + 30)

        assert app.tick(now=NOW).resumed == {"golden-1": golden["expect"]["status"]}
        instance = app.get("golden-1")
        assert instance.output == golden["expect"]["output"]
        assert instance.error is None
        assert app.history("golden-1") == steps  # replay added nothing and changed nothing
