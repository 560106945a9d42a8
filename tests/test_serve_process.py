"""`romancy serve` as a robust process: idle clients, secrets, start-up failures, its watcher's
death and broken code saved while it runs. Real `romancy serve` processes on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from cli_helpers import Project
from test_serve_cli import WORKFLOWS, project, start_server  # noqa: F401 - project is a fixture

CE_JSON = {"Content-Type": "application/cloudevents+json"}


def event(event_id: str, order_id: str) -> dict:
    return {"specversion": "1.0", "type": "shipment.sent", "source": "t", "id": event_id,
            "data": {"order_id": order_id}}


def idle_connections(url_port: int, count: int) -> list[socket.socket]:
    """Clients that connect and send nothing."""
    return [socket.create_connection(("127.0.0.1", url_port), timeout=5) for _ in range(count)]


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def test_idle_clients_over_waitress_default_limit_do_not_lock_out_an_event(project: Project) -> None:
    served = start_server(project, "--no-reload")
    idle = idle_connections(port_of(served.url), 150)  # waitress's own default limit is 100
    try:
        began = time.monotonic()
        answer = requests.post(served.url, json=event("idle-1", "I1"), headers=CE_JSON, timeout=10)
        assert answer.status_code == 202 and time.monotonic() - began < 10
        assert project.rows("SELECT COUNT(*) FROM romancy_events")[0][0] == 1
    finally:
        for sock in idle:
            sock.close()
        served.stop()


def test_idle_connection_is_closed_after_channel_timeout_from_config(project: Project) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n'
                                  "[serve]\nchannel_timeout = 1\n")
    served = start_server(project, "--no-reload")
    try:
        sock, = idle_connections(port_of(served.url), 1)
        began = time.monotonic()
        sock.settimeout(10)
        assert sock.recv(1) == b""  # closed by the server, not timed out here
        assert 0.9 <= time.monotonic() - began < 10
        sock.close()
    finally:
        served.stop()


def test_channel_timeout_flag_overrides_config(project: Project) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n'
                                  "[serve]\nchannel_timeout = 300\nconnection_limit = 50\n")
    served = start_server(project, "--no-reload", "--channel-timeout", "1")
    try:
        sock, = idle_connections(port_of(served.url), 1)
        sock.settimeout(10)
        assert sock.recv(1) == b""
        sock.close()
    finally:
        served.stop()


@pytest.mark.parametrize("args, toml, named", [
    (("--channel-timeout", "0"), "", "'--channel-timeout': 0 is smaller than the minimum 1"),
    (("--connection-limit", "0"), "", "'--connection-limit': 0 is smaller than the minimum 1"),
    ((), "[serve]\nchannel_timeout = 0\n", "`serve.channel_timeout` must be a positive whole number"),
    ((), '[serve]\nconnection_limit = "many"\n', "`serve.connection_limit` must be a positive whole number"),
    (("--allowed-host", "http://x.example"), "", "--allowed-host: 'http://x.example' is not a host name"),
    ((), '[serve]\nallowed_hosts = "x.example"\n', "`serve.allowed_hosts` must be a list of host names"),
    ((), '[serve]\nallowed_hosts = ["x.example:8001"]\n', "'x.example:8001' is not a host name or IP address"),
])
def test_bad_connection_settings_exit_2_with_one_line(project: Project, args: tuple, toml: str,
                                                       named: str) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n' + toml)
    result = project.run("serve", "--no-reload", "--port", "0", *args, timeout=20)
    assert result.code == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr


def test_allowed_host_flag_replaces_the_files_list_in_the_reloaded_server(project: Project) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n'
                                  '[serve]\nallowed_hosts = ["file.example"]\n')
    served = start_server(project, "--reload", "--allowed-host", "flag.example")
    try:
        port = port_of(served.url)
        answers = {name: requests.get(served.url + "instances", headers={"Host": f"{name}:{port}"}, timeout=10)
                   for name in ("flag.example", "file.example", "localhost")}
        assert {name: answer.status_code for name, answer in answers.items()} == {
            "flag.example": 200, "file.example": 421, "localhost": 200}
        assert '[serve] allowed_hosts = [\\"file.example\\"]' in answers["file.example"].text
    finally:
        served.stop()


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc/*/stat (its 4th field)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie (an orphan's new parent may not reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_reload_child_gets_token_and_database_from_environment_not_argv(project: Project) -> None:
    served = start_server(project, "--reload", "--token", "s3cret")
    try:
        child, = children_of(served.proc.pid)
        argv = cmdline(child)
        assert "serve" in argv and "--no-reload" in argv
        assert "s3cret" not in argv and "--token" not in argv
        assert "--database" not in argv and "romancy.db" not in argv
        assert requests.post(served.url, json=event("t-1", "T1"), headers=CE_JSON, timeout=10).status_code == 401
        authorized = {**CE_JSON, "Authorization": "Bearer s3cret"}
        assert requests.post(served.url, json=event("t-2", "T2"), headers=authorized, timeout=10).status_code == 202
    finally:
        code, _ = served.stop()
    assert code == 0


def test_reload_exits_4_when_its_server_cannot_open_the_database(project: Project) -> None:
    project.write("bad.db", "not a database\n")
    result = project.run("serve", "--reload", "--port", "0", "--database", "bad.db", timeout=30)
    assert result.code == 4, result.stderr
    assert "not a SQLite database" in result.error_line


def test_reload_exits_4_when_the_port_is_taken(project: Project) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = project.run("serve", "--reload", "--port", str(port), timeout=30)
    assert result.code == 4, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.error_line


def can_bind(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_server_dies_with_its_killed_watcher_and_frees_the_port(project: Project) -> None:
    served = start_server(project, "--reload")
    child, = children_of(served.proc.pid)
    port = port_of(served.url)
    try:
        served.proc.kill()
        served.proc.wait(timeout=10)
        assert served.until(lambda: can_bind(port), limit=15)
        assert served.until(lambda: not alive(child), limit=15)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
        served.proc.stderr.close()
        served.proc.stdout.close()


SYNTAX_ERROR = WORKFLOWS.format(VERSION="v2").replace("def shipment(ctx, order_id: str) -> str:",
                                                      "def shipment(ctx, order_id: str) -> str")


def test_reload_with_broken_code_stores_events_until_fixed(project: Project) -> None:
    served = start_server(project, "--reload")
    try:
        instance_id = project.run("start", "shipment", "S5").stdout.strip()
        project.write("workflows.py", SYNTAX_ERROR)
        line = SYNTAX_ERROR.splitlines().index("def shipment(ctx, order_id: str) -> str") + 1
        where = f"{project.root / 'workflows.py'}:{line}"

        def not_ready() -> bool:
            answer = requests.get(served.url + "health/ready", timeout=2)
            return answer.status_code == 503 and where in answer.json()["error"]

        assert served.until(not_ready), served.log
        assert served.logged(where) and "SyntaxError" in served.log
        assert requests.get(served.url + "health/live", timeout=5).status_code == 200
        answer = requests.post(served.url, json=event("b-1", "S5"), headers=CE_JSON, timeout=10)
        assert answer.status_code == 202
        assert project.rows("SELECT COUNT(*) FROM romancy_events WHERE event_id = 'b-1'")[0][0] == 1
        assert project.status_of(instance_id) != "completed"

        project.write("workflows.py", WORKFLOWS.format(VERSION="v3"))
        project.wait_for_status(instance_id, "completed", timeout=30)
        output = project.rows("SELECT output FROM romancy_instances WHERE instance_id = ?", instance_id)[0][0]
        assert output == '"v3:S5"'
        assert requests.get(served.url + "health/ready", timeout=5).status_code == 200
    finally:
        code, _ = served.stop()
    assert code == 0


def test_broken_code_at_start_still_exits_2(project: Project) -> None:
    project.write("workflows.py", SYNTAX_ERROR)
    result = project.run("serve", "--reload", "--port", "0", timeout=30)
    assert result.code == 2, result.stderr
    assert "workflows.py:" in result.error_line and "SyntaxError" in result.error_line
