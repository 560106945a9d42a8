"""romancy.toml discovery and precedence (config.py) and workflow module loading (loader.py),
called in-process: they are plain functions of a folder and an environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from romancy_cli.config import load_settings
from romancy_cli.definitions import REGISTRY
from romancy_cli.errors import UsageError
from romancy_cli.loader import WorkflowImportError, load_workflows


def test_defaults_without_a_config_file(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)
    assert settings.source is None
    assert settings.database == str(tmp_path / "romancy.db")
    assert settings.workflows == ()
    assert settings.serve.port == 8001 and settings.serve.host == "127.0.0.1" and settings.serve.reload
    assert settings.lease_seconds == 30.0 and settings.synchronous == "normal"
    (tmp_path / "workflows.py").write_text("")
    assert load_settings(env={}, cwd=tmp_path).workflows == (str(tmp_path / "workflows.py"),)


def test_nearest_file_walking_up_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "romancy.toml").write_text(
        'database = "data/app.db"\nworkflows = ["flows/", "pkg.flows", "one.py"]\nworker_id = "w1"\n'
        'lease_seconds = 5\nsynchronous = "full"\n[serve]\nport = 9000\nreload = false\ntoken = "t"\n'
        'max_body = 2048\nhost = "0.0.0.0"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    settings = load_settings(env={}, cwd=deep)
    assert settings.source == tmp_path / "romancy.toml"
    assert settings.database == str(tmp_path / "data" / "app.db")
    assert settings.workflows == (str(tmp_path / "flows"), "pkg.flows", str(tmp_path / "one.py"))
    assert (settings.worker_id, settings.lease_seconds, settings.synchronous) == ("w1", 5.0, "full")
    assert settings.serve.port == 9000 and not settings.serve.reload and settings.serve.token == "t"
    assert settings.serve.max_body == 2048 and settings.serve.host == "0.0.0.0"


def test_precedence_flag_over_environment_over_file(tmp_path: Path) -> None:
    (tmp_path / "romancy.toml").write_text('database = "file.db"\nworkflows = ["a.py"]\nworker_id = "f"\n')
    env = {"ROMANCY_DATABASE": "env.db", "ROMANCY_WORKFLOWS": "b.py,pkg.mod", "ROMANCY_WORKER_ID": "e"}
    from_env = load_settings(env=env, cwd=tmp_path)
    assert from_env.database == str(tmp_path / "env.db")
    assert from_env.workflows == (str(tmp_path / "b.py"), "pkg.mod")
    assert from_env.worker_id == "e"
    from_flags = load_settings(database="postgresql://u@h/db", workflows=["c.py"], env=env, cwd=tmp_path)
    assert from_flags.database == "postgresql://u@h/db"
    assert from_flags.workflows == (str(tmp_path / "c.py"),)


def test_explicit_config_and_environment_config(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "custom.toml").write_text('database = "x.db"\n')
    by_flag = load_settings(config=str(other / "custom.toml"), env={}, cwd=tmp_path)
    assert by_flag.database == str(other / "x.db")
    by_env = load_settings(env={"ROMANCY_CONFIG": "elsewhere/custom.toml"}, cwd=tmp_path)
    assert by_env.source == other / "custom.toml"
    with pytest.raises(UsageError, match="does not exist"):
        load_settings(config="missing.toml", env={}, cwd=tmp_path)


def test_pyproject_tool_romancy(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.romancy]\ndatabase = "p.db"\n')
    settings = load_settings(env={}, cwd=tmp_path)
    assert settings.source == tmp_path / "pyproject.toml"
    assert settings.database == str(tmp_path / "p.db")
    (tmp_path / "pyproject.toml").write_text('[tool.romancy]\ndatabase = "p.db"\nnope = 1\n')
    with pytest.raises(UsageError, match=r"unknown key 'nope' in .*pyproject.toml"):
        load_settings(env={}, cwd=tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: not a config
    assert load_settings(env={}, cwd=tmp_path).source is None


@pytest.mark.parametrize("text, message", [
    ('synchronous = "sometimes"\n', "`synchronous` must be one of normal, full"),
    ("workflows = 3\n", "`workflows` must be a list"),
    ("[serve]\nport = 70000\n", "`serve.port` must be a port number"),
    ("serve = 1\n", "`serve` must be a table"),
    ("database = \n", "malformed TOML"),
])
def test_invalid_values_name_the_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "romancy.toml").write_text(text)
    with pytest.raises(UsageError) as caught:
        load_settings(env={}, cwd=tmp_path)
    assert message in str(caught.value) and str(tmp_path / "romancy.toml") in str(caught.value)


def test_loader_imports_files_folders_and_modules(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "first_cfgtest.py").write_text(
        "from romancy_cli import workflow\nfrom helper_cfgtest import VALUE\n\n"
        "@workflow\ndef cfg_first(ctx, n: int) -> int:\n    return n + VALUE\n")
    (folder / "helper_cfgtest.py").write_text("VALUE = 1\n")  # a sibling import works
    (folder / "_private_cfgtest.py").write_text("raise RuntimeError('never imported')\n")
    package = tmp_path / "pkg_cfgtest"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text(
        "from romancy_cli import workflow\n\n@workflow('cfg_second')\ndef second(ctx) -> None:\n    pass\n")
    try:
        modules = load_workflows([str(folder), "pkg_cfgtest.flows"], root=tmp_path)
        assert "cfg_first" in REGISTRY.workflows and "cfg_second" in REGISTRY.workflows
        assert {m.__name__ for m in modules} >= {"first_cfgtest", "pkg_cfgtest.flows"}
        with pytest.raises(WorkflowImportError, match="no module named 'nothing_here_cfgtest'"):
            load_workflows(["nothing_here_cfgtest.flows"], root=tmp_path)
    finally:
        for name in ("cfg_first", "cfg_second"):
            REGISTRY.workflows.pop(name, None)
        for name in ("first_cfgtest", "helper_cfgtest", "pkg_cfgtest", "pkg_cfgtest.flows"):
            sys.modules.pop(name, None)


def test_serve_connection_settings_default_and_from_file(tmp_path: Path) -> None:
    defaults = load_settings(env={}, cwd=tmp_path).serve
    assert (defaults.connection_limit, defaults.channel_timeout) == (1000, 15)
    (tmp_path / "romancy.toml").write_text("[serve]\nconnection_limit = 20\nchannel_timeout = 3\n")
    serve = load_settings(env={}, cwd=tmp_path).serve
    assert (serve.connection_limit, serve.channel_timeout) == (20, 3)


def test_serve_token_from_environment_over_file(tmp_path: Path) -> None:
    (tmp_path / "romancy.toml").write_text('[serve]\ntoken = "from-file"\n')
    assert load_settings(env={}, cwd=tmp_path).serve.token == "from-file"
    assert load_settings(env={"ROMANCY_SERVE_TOKEN": "from-env"}, cwd=tmp_path).serve.token == "from-env"
