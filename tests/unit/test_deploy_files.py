"""docker-compose.yml runs exactly the Procfile's commands (no Docker engine here to run it)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = dict(
    (name.strip(), command.strip())
    for name, _, command in (
        line.partition(":") for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.mark.parametrize(
    ("service", "process"),
    [("api", "web"), ("worker-security", "worker-security"),
     ("worker-webhooks", "worker-webhooks"), ("beat", "beat")],
)  # fmt: skip
def test_compose_service_runs_the_procfile_command(service, process):
    assert COMPOSE[service]["command"] == shlex.split(PROCFILE[process])


@pytest.mark.parametrize("service", ["flower", "worker-email"])
def test_compose_runs_the_procfile_line_through_a_shell(service):
    # `$$` in compose is a literal `$`, left to the container's shell, as honcho's shell does.
    command = COMPOSE[service]["command"]
    assert command[:2] == ["bash", "-c"]
    assert command[2].replace("$$", "$") == PROCFILE[service]


def test_the_email_worker_health_check_pings_the_node_the_command_starts():
    """The node name is email-$PORT@<host>: the health check, run by a shell in the same
    container (same PORT, same HOSTNAME), names the same node."""
    import subprocess

    environment = {"PORT": "8000", "HOSTNAME": "c0ffee", "PATH": "/usr/bin:/bin"}
    [started] = [a for a in shlex.split(PROCFILE["worker-email"]) if a.startswith("email-")]
    started = (
        subprocess.run(
            ["bash", "-c", f"echo {started}"], env=environment, capture_output=True, text=True
        )
        .stdout.strip()
        .replace("%h", "c0ffee")
    )
    check = COMPOSE["worker-email"]["healthcheck"]["test"][1].replace("$$", "$")
    pinged = subprocess.run(
        ["bash", "-c", f"set -- {check}; while [ \"$1\" != -d ]; do shift; done; echo $2"],
        env=environment, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert started == pinged == "email-8000@c0ffee"


def test_the_image_leaves_the_local_stand_ins_out_and_nothing_shipped_needs_them():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "shared/devservices" in ignored
    shipped = [
        path for package in ("api", "shared", "workers") for path in (ROOT / package).rglob("*.py")
        if "devservices" not in path.parts
    ]  # fmt: skip
    assert len(shipped) > 50
    importers = [
        str(p.relative_to(ROOT)) for p in shipped
        if "shared.devservices" in p.read_text() or "import devservices" in p.read_text()
    ]  # fmt: skip
    assert importers == []
