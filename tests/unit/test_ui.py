"""`make ui` picks the first free port from 3000 up and says which, or fails saying why."""

import socket

import pytest

from hibayes_assets import ui


@pytest.fixture
def busy_port():
    """A port something listens on, as an earlier `make ui` would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_busy_port_is_skipped_and_dagster_dev_gets_the_next_free_one(busy_port, monkeypatch, capsys):
    assert not ui.port_free("127.0.0.1", busy_port)
    started = []
    monkeypatch.setattr(ui, "start_dagster_dev", lambda host, port: started.append(ui.dagster_dev_command(host, port)))
    assert ui.main(["--port", str(busy_port)]) == 0
    (command,) = started
    port = int(command[command.index("-p") + 1])
    assert port > busy_port and ui.port_free("127.0.0.1", port)
    assert command[1:] == ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    assert f"port {busy_port} is in use on 127.0.0.1: using {port}" in capsys.readouterr().out


def test_no_free_port_fails_saying_what_to_do(busy_port, monkeypatch, capsys):
    monkeypatch.setattr(ui, "PORTS_TRIED", 1)
    monkeypatch.setattr(ui, "start_dagster_dev", lambda host, port: pytest.fail("started on a busy port"))
    assert ui.main(["--port", str(busy_port)]) == 1
    err = capsys.readouterr().err
    assert f"no free port on 127.0.0.1 from {busy_port} to {busy_port}" in err and "--port" in err
