"""The documentation cannot drift from the code: the site builds in strict mode (a broken link or a
missing reference fails), every Python example in README.md and docs/ runs (pytest examples as
tests), every `romancy` command line names a command and options that exist, and the API reference
covers every public name."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import romancy_cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^( *)```(\w+)[^\n]*\n(.*?)^\1```", re.S | re.M)


def blocks(page: Path, language: str) -> list[str]:
    return [textwrap.dedent(body) for _, lang, body in FENCE.findall(page.read_text()) if lang == language]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "romancy send-event" in cli and "--instance" in cli  # generated from the Typer app


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=_name)
def test_python_examples_run(page: Path, tmp_path: Path) -> None:
    examples = blocks(page, "python")
    scripts = [code for code in examples if "romancy_app" not in code]
    tests = [code for code in examples if "romancy_app" in code]
    if scripts:  # one page's examples build on each other, like a reader's session
        (tmp_path / "page_examples.py").write_text("\n\n".join(scripts))
        ran = subprocess.run([sys.executable, "page_examples.py"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
    for number, code in enumerate(tests):
        (tmp_path / f"test_example_{number}.py").write_text(code)
    if tests:
        ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert re.search(r"(\d+) passed", ran.stdout), ran.stdout


def command_lines(page: Path) -> list[str]:
    """Every `romancy ...` invocation in the page's console blocks."""
    found = []
    for block in blocks(page, "console"):
        lines = block.splitlines()
        prompted = any(line.startswith("$ ") for line in lines)
        for line in lines:
            if prompted and not line.startswith("$ "):
                continue  # output
            for part in line.removeprefix("$ ").split("&&"):
                part = part.split("#")[0].strip()
                if part.startswith("romancy "):
                    found.append(part)
    return found


def _cli():
    from typer.main import get_command

    from romancy_cli.cli.application import register

    return get_command(register([]))


def _command_name(words: list[str], cli) -> str:
    """The first word that is neither a global option nor the value of one."""
    takes_value = {opt for param in cli.params if not (getattr(param, "is_flag", False) or getattr(param, "count", False))
                   for opt in param.opts}
    skip = False
    for word in words:
        if skip or word.startswith("-"):
            skip = not skip and word in takes_value
            continue
        return word
    return ""


def _options(command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize("page", [p for p in PAGES if command_lines(p)], ids=_name)
def test_documented_commands_and_options_exist(page: Path) -> None:
    cli = _cli()
    unknown = []
    for line in command_lines(page):
        words = shlex.split(line)[1:]
        command = cli.commands.get(_command_name(words, cli))
        if command is not None and hasattr(command, "commands"):  # a group: `romancy schedule create ...`
            name = _command_name(words, cli)
            command = command.commands.get(_command_name(words[words.index(name) + 1:], cli))
        if command is None:
            unknown.append(f"{line}: no command")
            continue
        known = _options(command) | _options(cli)
        unknown += [f"{line}: {w}" for w in words if w.startswith("--") and w.split("=")[0] not in known]
    assert unknown == []


def test_the_api_reference_covers_every_public_name() -> None:
    reference = (ROOT / "docs" / "reference" / "api.md").read_text()
    missing = [name for name in romancy_cli.__all__
               if name != "__version__" and not re.search(rf"^::: romancy_cli\.[\w.]*\b{name}$", reference, re.M)]
    assert missing == []


LONG_RUNNING = ("run", "serve")  # foreground commands: they must start; the test then stops them


def quick_start() -> list[tuple[str, list[str]]]:
    """README's Quick start: (command, the output lines shown under it)."""
    block = next(b for b in blocks(ROOT / "README.md", "console") if "romancy start payment_workflow" in b
                 and b.lstrip().startswith("$ "))
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:].split("#")[0].split("|")[0].strip(), []))
        elif line.strip():
            steps[-1][1].append(line.split("#")[0].strip())
    return steps


def _shown(expected: str) -> str:
    """A shown output line as a pattern: `...` stands for what differs from run to run."""
    return re.escape(expected).replace(re.escape("..."), ".*")


def test_the_quick_start_runs_as_shown(tmp_path: Path) -> None:
    import shutil

    shutil.copy(ROOT / "romancy.toml", tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    romancy = str(Path(sys.executable).parent / "romancy")
    instance_id = ""
    for command, shown in quick_start():
        argv = [romancy, *shlex.split(command.replace("payment_workflow-01...", instance_id))[1:]]
        if argv[1] in LONG_RUNNING:
            process = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            with pytest.raises(subprocess.TimeoutExpired):
                process.wait(timeout=1.5)  # still running: it started
            process.terminate()
            process.wait(timeout=15)
            continue
        ran = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, f"{command}: {ran.stderr}"
        instance_id = instance_id or ran.stdout.strip()
        output = (ran.stdout + ran.stderr).splitlines()
        for expected in shown:
            assert any(re.fullmatch(_shown(expected), line.strip()) for line in output), (command, expected, output)
