"""The hooks a command's App gets from [telemetry] (`hooks`, `otel`) and the OTEL_* variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .output import warn

if TYPE_CHECKING:
    from ..config import Settings


def configured_hooks(settings: "Settings") -> list[object]:
    """The hooks named by [telemetry] `hooks`, imported, and the tracing hook when traces are
    asked for (OpenTelemetry is imported only then)."""
    from ..config import traces_wanted

    hooks: list[object] = []
    if settings.telemetry.hooks:
        from ..loader import load_hook

        hooks += [load_hook(spec, settings.root) for spec in settings.telemetry.hooks]
    exporter = traces_wanted(settings.telemetry.otel)
    tracing = _tracing(exporter) if exporter is not None else None
    return hooks + ([tracing] if tracing is not None else [])


def _tracing(exporter: str) -> Optional[object]:
    """The OpenTelemetry hook, or None after one warning line (the `otel` extra is missing...)."""
    try:
        from ..tracing import from_environment
    except ImportError:
        warn("traces were asked for (OTEL_* variables or [telemetry] otel) but OpenTelemetry is not installed: "
             "pip install 'romancy-cli[otel]'; running without traces")
        return None
    return from_environment(exporter, warn)
