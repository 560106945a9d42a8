"""How stored times (epoch seconds) are shown: datetimes and RFC 3339 strings, never a crash."""

from __future__ import annotations

import math
from datetime import datetime, timezone


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def in_range(epoch: float) -> bool:
    """True when `epoch` is a time datetime can show (years 1 to 9999; inputs are checked, but the
    database may hold anything another program wrote)."""
    try:
        to_datetime(epoch)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def iso(epoch: float | None) -> str | float | None:
    """RFC 3339 UTC with milliseconds, or None. A stored time outside years 1-9999 stays its
    epoch seconds, and NaN/Infinity becomes None: JSON output must neither fail nor lie."""
    if epoch is None or not math.isfinite(epoch):
        return None
    if not in_range(epoch):
        return epoch
    return to_datetime(epoch).isoformat(timespec="milliseconds").replace("+00:00", "Z")
