"""The replay engine. Never imports peewee, typer, rich, waitress or watchfiles."""
