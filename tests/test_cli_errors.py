"""Every bad input that reaches the CLI: one `error:` line saying what and where, the exit code
of README "Commands" (2 input, 3 not found, 4 database), and the database as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli_helpers import Project, WORKFLOWS, make_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)

TABLES = ("romancy_instances", "romancy_steps", "romancy_events", "romancy_meta")


def snapshot(proj: Project) -> dict:
    return {t: sorted(map(repr, proj.rows(f"SELECT * FROM {t}"))) for t in TABLES}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, str]:
    """A project with one instance waiting for an event; the bad inputs must leave it alone."""
    proj = Project(tmp_path_factory.mktemp("seeded"))
    proj.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n')
    proj.write("workflows.py", WORKFLOWS)
    result = proj.run("start", "order", "ORD-1")
    assert result.code == 0, result.stderr
    return proj, result.stdout.strip()


BAD_INPUTS = [
    (["send-event", "payment.completed", "--data", '{"order_id": "ORD-1",'], 2,
     "error: invalid JSON in --data at line 1 column 22: Expecting property name"),
    (["send-event", "payment.completed", "--data", "@missing.json"], 2,
     "error: cannot read --data file missing.json: No such file or directory"),
    (["start", "add", "--input", '{"a": 1'], 2, "error: invalid JSON in --input at line 1 column 8"),
    (["start", "add", "--input", '"text"'], 2, "error: --input must be a JSON array"),
    (["start", "ad", "1"], 2, "error: unknown workflow 'ad': did you mean 'add'?"),
    (["start", "zzz"], 2, "error: unknown workflow 'zzz' (known: add, boom, napper, norm, order)"),
    (["start", "add", "one"], 2, "error: invalid argument a for 'add': 'one' is not a valid int"),
    (["start", "add", "1", "2", "3", "yes", "extra"], 2,
     "error: wrong arguments for 'add': too many positional arguments; expected (a: int, b: int = 1"),
    (["start", "add"], 2, "error: wrong arguments for 'add': missing a required argument: 'a'"),
    (["start", "add", "--input", '{"a": 1, "c": 2}'], 2,
     "error: wrong arguments for 'add': got an unexpected keyword argument 'c'"),
    (["start", "norm", '{"x": 1}', "[]"], 2, "error: invalid argument p for 'norm'"),
    (["start", "add", "--input", '{"a": "many"}'], 2, "error: wrong arguments for 'add'"),
    (["status", "no-such-id"], 3, "error: no instance 'no-such-id'"),
    (["cancel", "no-such-id"], 3, "error: no instance 'no-such-id'"),
    (["send-event", "payment.completed", "--instance", "no-such-id"], 3, "error: no instance 'no-such-id'"),
    (["tick", "--advance", "5 parsecs"], 2, "error: invalid --advance '5 parsecs': use a number of seconds"),
    (["tick", "--now", "yesterday"], 2, "error: invalid time 'yesterday' for --now"),
    (["tick", "--advance", "1h", "--now", "2030-01-01T00:00:00Z"], 2, "error: give one of --advance, --now and --reset-clock"),
    (["status", "x", "--wait", "--timeout", "soon"], 2, "error: invalid --timeout 'soon'"),
    (["status", "--status", "complete"], 2, "error: invalid --status 'complete': did you mean 'completed'?"),
    (["status", "--wait"], 2, "error: --wait needs an INSTANCE_ID"),
    (["status", "--limit", "0"], 2, "error: Invalid value for '--limit': 0 is smaller than the minimum 1."),
    (["serve", "--no-reload", "--workers", "0"], 2,
     "error: Invalid value for '--workers': 0 is smaller than the minimum 1."),
    (["start", "add", "1", "--bogus"], 2, "error: No such option: --bogus"),
    (["start", "add", "1", "--id", "a/b"], 2, "error: instance id 'a/b' holds '/' at position 2: an id may hold "
     "letters, digits, marks, punctuation and symbols"),
    (["run", "add", "1", "--id", "pay\u202egpj.exe"], 2,
     "error: instance id 'pay\\u202egpj.exe' holds U+202E (RIGHT-TO-LEFT OVERRIDE) at position 4"),
    (["start", "add", "1", "--id", "tab\there"], 2, "error: instance id 'tab\\there' holds U+0009"),
    (["send-event", "payment.completed", "--instance", "new one", "--start-workflow", "order", "--input",
      '["ORD-9"]'], 2, "error: instance id 'new one' holds U+0020 (SPACE) at position 4"),
    (["bogus"], 2, "error: No such command 'bogus'."),
]


@pytest.mark.parametrize("args, code, message", BAD_INPUTS, ids=[" ".join(c[0])[:40] for c in BAD_INPUTS])
def test_bad_input_is_one_line_and_stores_nothing(seeded: tuple[Project, str], args: list[str], code: int,
                                                  message: str) -> None:
    proj, _ = seeded
    before = snapshot(proj)
    result = proj.run(*args)
    assert result.code == code, result.stderr
    assert result.error_line.startswith(message), result.error_line
    assert result.stdout == ""
    assert snapshot(proj) == before


NOT_UNICODE = [  # "\udcff" in an argument reaches romancy as the byte 0xff, which is not UTF-8
    (["send-event", "payment.completed", "--data", '"\\ud800"'],
     "error: --data: $: U+D800 is a lone surrogate, not valid Unicode"),
    (["send-event", "payment.completed", "--data", '{"order_id": "ORD-1", "\\udc00": 1}'],
     "error: --data: $: a key holds U+DC00, a lone surrogate, not valid Unicode"),
    (["send-event", "T\udcff"], "error: Invalid value for 'TYPE': not valid UTF-8 (byte 0xff at character 2)"),
    (["send-event", "T", "--source", "s\udcff"], "error: Invalid value for '--source': not valid UTF-8 (byte 0xff"),
    (["send-event", "T", "--id", "\udce9d"], "error: Invalid value for '--id': not valid UTF-8 (byte 0xe9 at character 1)"),
    (["send-event", "T", "--subject", "s\udcff"], "error: Invalid value for '--subject': not valid UTF-8"),
    (["send-event", "T", "--instance", "i\udcff"], "error: Invalid value for '--instance': not valid UTF-8"),
    (["send-event", "T", "--data", "@lone.json"], "error: --data (lone.json): $.note: U+D800 is a lone surrogate"),
    (["send-event", "T", "--data", "@latin1.json"],
     "error: --data (latin1.json) line 2: not valid UTF-8 (byte 0xe9 at byte 16 of the line)"),
    (["start", "order", "ORD-\udcff"], "error: Invalid value for 'ARGS': not valid UTF-8 (byte 0xff"),
    (["start", "order", "--input", '["\\ud800"]'], "error: --input: $[0]: U+D800 is a lone surrogate"),
    (["start", "order", "--input", '{"order_id": "\\udc80"}'], "error: --input: $.order_id: U+DC80 is a lone"),
    (["start", "add", "1", "--id", "a\udcff"], "error: Invalid value for '--id': not valid UTF-8"),
    (["status", "a\udcff"], "error: Invalid value for 'INSTANCE_ID': not valid UTF-8"),
]


@pytest.mark.parametrize("args, message", NOT_UNICODE, ids=[ascii(" ".join(c[0]))[1:41] for c in NOT_UNICODE])
def test_text_that_is_not_unicode_is_an_input_error(seeded: tuple[Project, str], args: list[str],
                                                    message: str) -> None:
    proj, _ = seeded
    proj.write("lone.json", '{"note": "\\ud800"}')
    (proj.root / "latin1.json").write_bytes(b'{"order_id":\n  "ORD-1", "caf\xe9": 1}')
    before = snapshot(proj)
    result = proj.run(*args)
    assert result.code == 2, result.stderr
    assert result.error_line.startswith(message), result.error_line
    assert result.stdout == ""
    assert snapshot(proj) == before


def test_data_from_stdin_that_is_not_utf8_names_the_line(seeded: tuple[Project, str]) -> None:
    proj, _ = seeded
    before = snapshot(proj)
    result = proj.run("send-event", "payment.completed", "--data", "-", input=b'{\n"a":\n"\xff"}')
    assert result.code == 2
    assert result.error_line.startswith("error: --data (stdin) line 3: not valid UTF-8 (byte 0xff at byte 2 of")
    assert snapshot(proj) == before


def test_separators_inside_json_strings_are_accepted(seeded: tuple[Project, str]) -> None:
    """U+2028 and U+0085 are valid raw inside a JSON string (only control characters are not)."""
    proj, _ = seeded
    note = "line\u2028para\x85next"
    sent = proj.run("send-event", "t.note", "--id", "sep-1", "--no-resume",
                    "--data", json.dumps({"note": note}, ensure_ascii=False))
    assert sent.code == 0, sent.stderr
    [(data,)] = proj.rows("SELECT data FROM romancy_events WHERE event_id = 'sep-1'")
    assert json.loads(data) == {"note": note}
    started = proj.run("start", "order", f"ORD-{note}", "--json")
    assert started.code == 0, started.stderr
    assert started.json["input"]["args"] == [f"ORD-{note}"]


def test_verbose_shows_the_traceback(seeded: tuple[Project, str]) -> None:
    proj, _ = seeded
    result = proj.run("-v", "status", "no-such-id")
    assert result.code == 3
    assert "Traceback" in result.stderr and result.stderr.rstrip().endswith("lists instances")


def test_malformed_config(project: Project) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"\nworker_id = "w"\n')
    result = project.run("start", "add", "1")
    assert result.code == 2
    assert result.error_line.startswith(f"error: {project.root / 'romancy.toml'}:3: malformed TOML")
    assert not project.db.exists()


def test_unknown_config_key(project: Project) -> None:
    project.write("romancy.toml", 'databse = "other.db"\n[serve]\nport = 8001\n')
    result = project.run("status")
    assert result.code == 2
    assert result.error_line == (f"error: unknown key 'databse' in {project.root / 'romancy.toml'}: "
                                 "did you mean 'database'?")
    project.write("romancy.toml", '[serve]\nhots = "0.0.0.0"\n')
    assert "unknown key 'serve.hots'" in project.run("status").error_line
    project.write("romancy.toml", 'lease_seconds = "long"\n')
    assert "`lease_seconds` must be a positive number" in project.run("status").error_line
    assert not project.db.exists()


def test_module_that_fails_to_import_names_file_and_line(project: Project) -> None:
    project.write("workflows.py", "from romancy_cli import workflow\n\n\nvalue = 1 / 0\n")
    result = project.run("start", "add", "1")
    assert result.code == 2
    assert result.error_line == (f"error: cannot import workflows from {project.root / 'workflows.py'}:4: "
                                 "ZeroDivisionError: division by zero")
    project.write("workflows.py", "def broken(:\n    pass\n")
    syntax = project.run("workflows")
    assert syntax.code == 2
    assert f"{project.root / 'workflows.py'}:1: SyntaxError" in syntax.error_line
    assert not project.db.exists()


def test_database_in_a_missing_folder(project: Project) -> None:
    project.write("romancy.toml", 'database = "nowhere/romancy.db"\nworkflows = ["workflows.py"]\n')
    for args in (["start", "add", "1"], ["status"]):
        result = project.run(*args)
        assert result.code == 4, result.stderr
        assert f"folder {project.root / 'nowhere'} does not exist" in result.error_line
    assert not (project.root / "nowhere").exists()


def test_database_from_a_newer_version(project: Project) -> None:
    assert project.run("start", "add", "1").code == 0
    conn = sqlite3.connect(project.db)
    conn.execute("UPDATE romancy_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = snapshot(project)
    for args in (["start", "add", "2"], ["status"]):
        result = project.run(*args)
        assert result.code == 4
        assert "was written by a newer romancy-cli (schema 99" in result.error_line
    assert snapshot(project) == before


def test_foreign_database_file(project: Project) -> None:
    (project.root / "romancy.db").write_text("not a database at all\n")
    result = project.run("status")
    assert result.code == 4
    assert "is not a SQLite database" in result.error_line
    assert (project.root / "romancy.db").read_text() == "not a database at all\n"
