"""deploy/: the compose file, the systemd unit, the image and the sample settings refer
only to settings, commands and files that exist. (Docker itself is not run here.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import _parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# What the bot reads from its environment: the settings, and the log format (bot/logs.py).
KNOWN = {name.upper() for name in Settings.model_fields} | {"LOG_FORMAT"}
CIVICBOT_BIN = "/opt/civicbot/venv/bin/civicbot"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def civicbot_services() -> dict[str, dict[str, Any]]:
    """The services that run our image (built from deploy/Dockerfile)."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def unit() -> dict[str, dict[str, list[str]]]:
    """The unit file as {section: {key: [values]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (DEPLOY / "civicbot.service").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def assert_a_civicbot_command(argv: list[str]) -> None:
    assert argv[0] in ("civicbot", CIVICBOT_BIN), argv
    try:
        _parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`{shlex.join(argv)}` is not a civicbot command")


# ---------------------------------------------------------------- compose


def test_compose_has_the_database_redis_and_the_bot_each_with_a_health_check() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "bot", "migrate"} <= set(services)
    for name in ("postgres", "redis", "bot"):
        assert services[name]["healthcheck"]["test"], name
    assert set(civicbot_services()) == {"bot", "migrate"}
    assert services["bot"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }


def test_compose_sets_only_settings_the_bot_reads() -> None:
    for name, service in civicbot_services().items():
        unknown = set(service.get("environment", {})) - KNOWN
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of bot/config.py"
        assert_a_civicbot_command(service["command"])
        assert (DEPLOY / service["build"]["context"]).resolve() == ROOT
    assert civicbot_services()["migrate"]["command"] == ["civicbot", "db", "upgrade"]


def test_compose_runs_the_bot_in_webhook_mode_on_the_port_it_checks() -> None:
    bot = compose()["services"]["bot"]
    environment = bot["environment"]
    assert "--webhook" in bot["command"]
    assert {"BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"} <= set(
        environment
    )
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["WEBHOOK_HOST"] == "0.0.0.0"
    port = environment["WEBHOOK_PORT"]
    assert bot["ports"] == [f"127.0.0.1:{port}:{port}"], "only the host's proxy reaches it"
    check = " ".join(bot["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert '"/healthz"' in (ROOT / "bot" / "webhook.py").read_text(), "the route it asks"


# ---------------------------------------------------------------- the image


def test_the_image_installs_the_package_with_its_translations() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert set(re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)) == {"python:3.11-slim"}
    sources = re.findall(r"^COPY (?!--)(\S+) ", dockerfile, flags=re.MULTILINE)
    for source in sources:
        assert (ROOT / source).exists(), source
    # The image installs a wheel built from the sources, translations included.
    assert {"bot", "handlers", "storage", "locales", "examples", "pyproject.toml"} <= set(sources)
    assert "pip wheel" in dockerfile and "pip install /wheels/" in dockerfile
    assert "pip install -e" not in dockerfile
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert_a_civicbot_command(yaml.safe_load(cmd))
    assert "USER civicbot" in dockerfile


# ---------------------------------------------------------------- systemd


def test_the_unit_runs_civicbot_run_as_its_own_user_hardened() -> None:
    service = unit()["Service"]

    def one(key: str) -> str:
        (value,) = service[key]
        return value

    assert_a_civicbot_command(shlex.split(one("ExecStart")))
    assert shlex.split(one("ExecStart"))[1:] == ["run"]
    assert one("User") == "civicbot"
    assert one("EnvironmentFile") == "/etc/civicbot/env"
    assert one("Restart") == "on-failure"
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    # Under ProtectSystem=strict only these are writable: the working directory (a
    # SQLite database and its -wal file) must be one of them.
    assert one("WorkingDirectory") in one("ReadWritePaths").split()
    for assignment in service.get("Environment", []):
        for name in re.findall(r"(\w+)=", assignment):
            assert name in KNOWN, name
    assert unit()["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_sample_settings_are_settings() -> None:
    names = re.findall(r"^#?([A-Z_]+)=", (DEPLOY / "env.example").read_text(), re.MULTILINE)
    assert {"BOT_TOKEN", "DATABASE_URL", "STAFF_CHAT_ID", "LOG_FORMAT"} <= set(names)
    assert set(names) <= KNOWN, set(names) - KNOWN
