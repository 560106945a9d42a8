"""A throwaway PostgreSQL cluster for the test session, and a fresh database per test.

`PgCluster.start()` runs initdb into a temporary folder and starts `postgres` on a free port of
127.0.0.1 (TCP only, no Unix socket, fsync and synchronous_commit off: nothing here needs to
survive a crash). PostgreSQL refuses to run as root, so under root the server runs as a
dedicated system user (`postgres` when the distribution package created it, else
`romancy-pg`, created with useradd) that owns the temporary folder.

ROMANCY_TEST_PG_URL=postgresql://user:pass@host:port/db uses an existing server instead
(the user needs CREATEDB). ROMANCY_TEST_PG_BIN names a folder holding initdb and postgres.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Optional

URL_ENV = "ROMANCY_TEST_PG_URL"
BIN_ENV = "ROMANCY_TEST_PG_BIN"
SERVICE_USER = "romancy-pg"
START_TIMEOUT = 60.0

_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


class PgUnavailable(Exception):
    """No server binaries (or no way to run them): the PostgreSQL tests are skipped."""


def find_bindir() -> str:
    """The folder with initdb and postgres: $ROMANCY_TEST_PG_BIN, pg_config, PATH, distro folders."""
    candidates = [os.environ.get(BIN_ENV, "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                             check=True).stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    initdb = shutil.which("initdb")
    candidates.append(os.path.dirname(initdb) if initdb else "")
    versioned = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    candidates += sorted(versioned, key=_version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]
    for folder in candidates:
        if folder and all(os.access(os.path.join(folder, tool), os.X_OK) for tool in ("initdb", "postgres")):
            return folder
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found; install them "
        f"(Debian: apt-get install postgresql), set {BIN_ENV}, or set {URL_ENV} to a server"
    )


def _version_key(path: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in path).split()
    return tuple(int(d) for d in digits)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Account:
    """Who runs the server: this process, or (as root) an unprivileged system user."""

    def __init__(self) -> None:
        self.uid = self.gid = -1
        if os.geteuid() == 0:
            entry = _service_user()
            self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def give(self, path: str) -> None:
        if self.uid >= 0:
            os.chown(path, self.uid, self.gid)

    def run_kwargs(self) -> dict[str, Any]:
        if self.uid < 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _service_user() -> pwd.struct_passwd:
    for name in ("postgres", SERVICE_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise PgUnavailable(f"running as root and cannot create user {SERVICE_USER} for PostgreSQL: {detail}")
    return pwd.getpwnam(SERVICE_USER)


def _temp_parent(account: _Account) -> str:
    """A temp folder the server user can reach (root's TMPDIR may be private)."""
    parent = tempfile.gettempdir()
    if account.uid < 0:
        return parent
    path = os.path.abspath(parent)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return "/tmp"
        if path == os.path.dirname(path):
            return parent
        path = os.path.dirname(path)


def _die_with_parent() -> None:
    """Linux: the server gets SIGINT (fast shutdown) if the test process is killed outright."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _remove_stale(parent: str, min_age: float = 3600.0) -> None:
    """Folders left by test runs that were killed outright (their server is gone, they are old)."""
    for root in glob.glob(os.path.join(parent, "romancy-pg-*")):
        try:
            if time.time() - os.stat(root).st_mtime < min_age or _server_alive(root):
                continue
        except OSError:
            continue
        shutil.rmtree(root, ignore_errors=True)


def _server_alive(root: str) -> bool:
    try:
        with open(os.path.join(root, "data", "postmaster.pid")) as handle:
            os.kill(int(handle.readline().strip()), 0)
    except PermissionError:
        return True  # someone else's folder or process: leave it alone
    except (OSError, ValueError):
        return False  # no pid file or no such process
    return True


class PgCluster:
    """One server for the session: start(), admin_url, stop(); Databases makes databases on it."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.account = _Account()
        parent = _temp_parent(self.account)
        _remove_stale(parent)
        self.root = tempfile.mkdtemp(prefix="romancy-pg-", dir=parent)
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self.port = 0
        self.process: Optional[subprocess.Popen] = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> "PgCluster":
        self.account.give(self.root)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"])
        for _ in range(3):  # another process may take the free port before the server does
            self.port = free_port()
            if self._launch():
                return self
        raise PgUnavailable(f"PostgreSQL did not start; log:\n{self._log_tail()}")

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True,
                              **self.account.run_kwargs())
        if done.returncode != 0:
            raise PgUnavailable(f"{os.path.basename(command[0])} failed: {done.stderr.strip() or done.stdout.strip()}")

    def _launch(self) -> bool:
        settings = {**_SETTINGS, "port": str(self.port)}
        command = [os.path.join(self.bindir, "postgres"), "-D", self.data]
        command += [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                                            **self.account.run_kwargs())
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _accepts(self.admin_url):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _log_tail(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-20:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, no checkpoint wait
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _accepts(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


class Databases:
    """Fresh databases on one server, dropped again at teardown."""

    _counter = itertools.count(1)

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True)

    def create(self) -> tuple[str, Callable[[], None]]:
        """(url of a new empty database, drop function)."""
        from psycopg import sql
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        name = f"romancy_test_{os.getpid()}_{next(self._counter)}_{uuid.uuid4().hex[:6]}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        params = conninfo_to_dict(self.admin_url)
        params["dbname"] = name
        url = _as_url(params) if self.admin_url.startswith(("postgresql://", "postgres://")) else make_conninfo(**params)

        def drop() -> None:
            with self._admin() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

        return url, drop


def _as_url(params: dict[str, Any]) -> str:
    from urllib.parse import quote, urlencode

    user = quote(str(params.pop("user", "") or ""), safe="")
    password = params.pop("password", None)
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host = params.pop("host", None) or "localhost"
    port = params.pop("port", None) or 5432
    dbname = quote(str(params.pop("dbname")), safe="")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{auth}{host}:{port}/{dbname}{query}"


def session_server() -> tuple[str, Callable[[], None]]:
    """(admin url, stop function): the ROMANCY_TEST_PG_URL server, or a started throwaway cluster.

    Raises PgUnavailable when neither is possible."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PgUnavailable("psycopg is not installed: pip install 'romancy-cli[postgres]'") from None
    external = os.environ.get(URL_ENV)
    if external:
        return external, lambda: None
    cluster = PgCluster(find_bindir())
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster.admin_url, cluster.stop
