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
    [("api", "web"), ("worker-email", "worker-email"), ("worker-security", "worker-security"),
     ("worker-webhooks", "worker-webhooks"), ("beat", "beat")],
)  # fmt: skip
def test_compose_service_runs_the_procfile_command(service, process):
    assert COMPOSE[service]["command"] == shlex.split(PROCFILE[process])


def test_flower_runs_the_procfile_line_through_a_shell():
    # `$$` in compose is a literal `$`, left to the container's shell, as honcho's shell does.
    command = COMPOSE["flower"]["command"]
    assert command[:2] == ["bash", "-c"]
    assert command[2].replace("$$", "$") == PROCFILE["flower"]


def test_the_email_worker_health_check_pings_a_node_the_command_starts():
    assert "email-{n}@%h" in COMPOSE["worker-email"]["command"]
    assert "email-1@$$HOSTNAME" in " ".join(COMPOSE["worker-email"]["healthcheck"]["test"])
