"""MkDocs hook: the CLI reference page is generated from the Typer app itself, so it cannot drift."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())


def cli_reference() -> str:
    import typer
    from typer.cli import get_docs_for_click
    from typer.main import get_command

    from romancy_cli.cli.application import register

    command = get_command(register([]))
    ctx = typer.Context(command)
    ctx.ensure_object(dict)
    text = "\n" + get_docs_for_click(obj=command, ctx=ctx, name="romancy")
    # The page has its own title: the program and its commands sit one level below it.
    return text.replace("\n## `romancy ", "\n### `romancy ").replace("\n# `romancy`", "\n## `romancy`", 1)
