"""Who holds an instance: lease owner tokens, whether an owner's process is gone, and which
instances the threads of this process are running."""

from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from typing import Iterator


def owner_token(worker_id: str) -> str:
    """Lease owner: host and pid first, so a dead local owner can be recognised at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{worker_id}"


def owner_is_dead(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_ACTIVE: set[tuple[str, str]] = set()  # (owner, instance id) being run by a thread of this process
_ACTIVE_LOCK = threading.Lock()


@contextmanager
def running_here(owner: str, instance_id: str) -> Iterator[bool]:
    """Yields False when another thread of this process already runs the instance as `owner`.

    Threads of one process share the owner token, so the lease alone cannot keep them apart: once
    a long run's lease expires, a tick in another thread would claim it as its own and run it too."""
    key = (owner, instance_id)
    with _ACTIVE_LOCK:
        mine = key not in _ACTIVE
        _ACTIVE.add(key)
    try:
        yield mine
    finally:
        if mine:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(key)
