"""The deployment files hold together: what the image copies, what compose starts and in which order.

No Docker engine runs where the tests run, so the image is not built here; these checks catch the
mistakes that would only show at `docker compose up` (a package the image forgets, a service that
starts before its migration, a database URL that does not match the database's credentials).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from kimi_student.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]]


def test_the_image_copies_every_package_the_project_installs_and_its_data():
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {args.split()[0] for args in instructions("COPY")}
    packages = {pattern.rstrip("*") for pattern in include}
    assert packages <= copied, f"the image lacks {sorted(packages - copied)}"
    assert {"configs", "migrations", "pyproject.toml"} <= copied  # configs/ and migrations/ are read at run time


def test_the_image_pins_the_cpu_torch_runs_unprivileged_and_checks_health():
    runs = " ".join(instructions("RUN"))
    assert "torch==2.13.0" in runs and "download.pytorch.org/whl/cpu" in runs
    assert instructions("USER") and instructions("USER")[-1] != "root"
    assert "/health" in instructions("HEALTHCHECK")[0]
    env = " ".join(instructions("ENV"))
    assert "KS_HOST=0.0.0.0" in env  # reachable from other containers: auth stays on (no --auth off)
    assert instructions("CMD") == ['["kimi-student", "serve"]']


def test_compose_migrates_once_before_the_service_and_waits_for_healthy_stores():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "migrate", "service"}
    migrate, service = services["migrate"], services["service"]
    assert migrate["command"] == ["kimi-student", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"},
                                     "redis": {"condition": "service_healthy"}}
    for name in ("postgres", "redis", "service"):
        assert services[name]["healthcheck"]["test"], name
    assert "/health" in " ".join(service["healthcheck"]["test"])


def test_compose_urls_match_the_database_and_cache_it_starts():
    env = COMPOSE["services"]["service"]["environment"]
    assert env == COMPOSE["services"]["migrate"]["environment"]
    db = urlsplit(env["KS_DATABASE_URL"])
    pg = COMPOSE["services"]["postgres"]["environment"]
    assert db.scheme == "postgresql+psycopg" and db.hostname == "postgres"
    assert (db.username, db.password, db.path.lstrip("/")) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"],
                                                              pg["POSTGRES_DB"])
    assert urlsplit(env["KS_REDIS_URL"]).hostname == "redis"


def test_compose_keeps_state_in_named_volumes_and_scales_the_service():
    declared = set(COMPOSE["volumes"])
    for name, mount in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        volumes = COMPOSE["services"][name]["volumes"]
        assert any(v.split(":")[0] in declared and v.split(":")[1] == mount for v in volumes), name
    ports = COMPOSE["services"]["service"]["ports"]
    assert ports == ["8000-8009:8000"]  # --scale service=N gets one host port each


@pytest.mark.parametrize("command", [["kimi-student", "db", "upgrade"], ["kimi-student", "serve"],
                                     ["kimi-student", "keys", "create", "--name", "ops", "--scopes", "admin"]])
def test_the_commands_the_deployment_runs_exist(command):
    """The migrate job, the image's CMD and the key command in compose's header parse as CLI calls."""
    build_parser().parse_args(command[1:])
