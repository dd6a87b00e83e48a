"""The Dockerfile runs what the project runs: no Docker engine here, so check that its
entry point, paths, user and healthcheck match the code, and run the healthcheck and
the entry point outside Docker the way the container would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.healthcheck import STALE_AFTER, heartbeat_path, write_heartbeat
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def only(word: str) -> str:
    values = [rest for w, rest in final_stage() if w == word]
    assert len(values) == 1, f"expected one {word} in the final stage, found {values}"
    return values[0]


def env_of_final_stage() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", rest):
                env[name] = value
    return env


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    env.update(extra)
    return env


def test_multi_stage_with_a_pinned_python_base() -> None:
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert len(froms) >= 2
    for image in froms:
        base = image.split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = instructions()
    copies = [i for i, (word, rest) in enumerate(steps) if word == "COPY" and "--from" not in rest]
    deps = next(i for i, (w, r) in enumerate(steps) if w == "RUN" and "requirements.lock" in r)
    source = next(i for i in copies if "bot" in steps[i][1].split())
    assert steps[copies[0]][1] == "requirements.lock ./"
    assert copies[0] < deps < source


def test_entry_point_is_python_m_bot() -> None:
    assert json.loads(only("CMD")) == ["python", "-m", "bot"]
    assert (ROOT / "bot" / "__main__.py").is_file()


def test_runs_as_a_non_root_user_with_the_database_on_the_volume() -> None:
    user = only("USER")
    assert user not in ("root", "0", "0:0")
    assert json.loads(only("VOLUME")) == ["/data"]
    env = env_of_final_stage()
    assert env["DATABASE_PATH"] == "/data/atelier.db"
    assert Path(env["DATABASE_PATH"]).parent == Path("/data")
    chown = [rest for word, rest in final_stage() if word == "RUN" and "chown" in rest]
    assert chown and "/data" in chown[0] and user in chown[0]


def test_the_healthcheck_is_the_module_that_exists() -> None:
    healthcheck = only("HEALTHCHECK")
    cmd = json.loads(healthcheck.split("CMD", 1)[1].strip())
    assert cmd == ["python", "-m", "bot.healthcheck"]
    assert (ROOT / "bot" / "healthcheck.py").is_file()


def test_compose_mounts_the_volume_at_data_and_reads_env() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert re.search(r"^\s+- \S+:/data\s*$", text, re.M)
    assert "DATABASE_PATH: /data/atelier.db" in text
    assert "env_file: .env" in text


def compose_services() -> dict[str, dict[str, Any]]:
    """``services:`` of compose.yaml read by indentation (no YAML library here): each
    service's scalars, lists, and the keys of its maps (``depends_on`` as service →
    condition); ``${POSTGRES_PASSWORD:-}`` is filled in as compose would from .env."""
    services: dict[str, dict[str, Any]] = {}
    section, key = "", ""
    service: dict[str, Any] = {}
    text = (ROOT / "compose.yaml").read_text().replace("${POSTGRES_PASSWORD:-}", "pw")
    for line in text.splitlines():
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        name, _, value = item.partition(":")
        value = value.strip().strip('"')
        if indent == 0:
            section = name
        elif section != "services":
            continue
        elif indent == 2:
            service = services.setdefault(name, {})
        elif indent == 4:
            key = name
            if value.startswith("["):
                service[key] = [v.strip().strip('"') for v in value.strip("[]").split(",")]
            else:
                service[key] = value or {}
        elif indent == 6 and item.startswith("- "):
            if not isinstance(service[key], list):
                service[key] = []
            service[key].append(item[2:].strip().strip('"'))
        elif indent == 6:
            service[key][name] = value
        elif indent == 8 and name == "condition":
            service[key][list(service[key])[-1]] = value
    return services


def test_compose_runs_one_sqlite_bot_unless_a_profile_is_named() -> None:
    services = compose_services()
    assert "profiles" not in services["atelier"]
    assert services["atelier"]["environment"] == {"DATABASE_PATH": "/data/atelier.db"}
    for name in ("postgres", "atelier-a", "atelier-b", "migrate"):
        assert services[name]["profiles"], name
    assert "cluster" in services["postgres"]["profiles"]
    assert "migrate" in services["postgres"]["profiles"]  # `run migrate` needs it


def test_compose_cluster_profile_shares_postgres_and_splits_the_shards() -> None:
    services = compose_services()
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "pw"  # from .env
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    replicas = [name for name, s in services.items() if "cluster" in s.get("profiles", [])]
    replicas.remove("postgres")
    assert replicas == ["atelier-a", "atelier-b"]
    shards: list[int] = []
    for name in replicas:
        service = services[name]
        assert service["image"] == "atelier:latest" and service["env_file"] == ".env"
        assert service["depends_on"] == {"postgres": "service_healthy"}
        env = service["environment"]
        assert env["DATABASE_URL"] == "postgresql://atelier:pw@postgres:5432/atelier"
        settings = Settings.from_env({"DISCORD_TOKEN": "t", "MAXAPI_KEY": "k", **env})
        assert settings.database_label == "PostgreSQL at postgres:5432/atelier"
        assert settings.shard_count == 2 and settings.shard_ids is not None
        shards += settings.shard_ids
    assert sorted(shards) == [0, 1]  # every shard runs, each in one bot
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "-m", "bot", "migrate-to-postgres"]
    assert migrate["environment"]["DATABASE_PATH"] == "/data/atelier.db"
    assert migrate["environment"]["DATABASE_URL"] == env["DATABASE_URL"]
    assert migrate["volumes"] == services["atelier"]["volumes"]  # the single bot's data


def test_readme_starts_the_cluster_by_naming_its_services() -> None:
    """Services without a profile start with every profile: the README's command names
    the cluster's services, so the SQLite bot does not start beside them."""
    readme = (ROOT / "README.md").read_text()
    services = compose_services()
    commands = re.findall(r"docker compose --profile cluster up -d[^\n`]*", readme)
    assert commands
    for command in commands:
        named = command.split("up -d", 1)[1].replace("--build", "").split()[:3]
        assert named == ["postgres", "atelier-a", "atelier-b"], command
        assert all(name in services for name in named)
    assert "docker compose run --rm migrate" in readme


def test_dockerignore_keeps_secrets_and_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", "data/", "*.db", ".git"):
        assert entry in ignored


@pytest.mark.parametrize("webhook", [False, True])
def test_healthcheck_outside_docker_fails_without_heartbeat_passes_with_one(
    tmp_path: Path, webhook: bool
) -> None:
    database = tmp_path / "data" / "atelier.db"
    extra = {"DATABASE_PATH": str(database)}
    cmd = [sys.executable, "-m", "bot.healthcheck"]
    missing = subprocess.run(cmd, env=run_env(tmp_path, **extra), capture_output=True, timeout=30)
    assert missing.returncode == 1
    write_heartbeat(heartbeat_path(database), time.time() - STALE_AFTER - 5)
    stale = subprocess.run(cmd, env=run_env(tmp_path, **extra), capture_output=True, timeout=30)
    assert stale.returncode == 1 and b"old" in stale.stderr
    write_heartbeat(heartbeat_path(database), time.time())
    if webhook:  # the listener is on but nobody answers on its port: unhealthy
        extra |= {
            "WEBHOOK_PUBLIC_URL": "https://bot.example.com/x",
            "WEBHOOK_LISTEN": "127.0.0.1:9",
        }
        down = subprocess.run(cmd, env=run_env(tmp_path, **extra), capture_output=True, timeout=30)
        assert down.returncode == 1 and b"healthz" in down.stderr
        return
    fresh = subprocess.run(cmd, env=run_env(tmp_path, **extra), capture_output=True, timeout=30)
    assert fresh.returncode == 0, fresh.stderr


def test_entry_point_outside_docker_reads_the_container_paths(tmp_path: Path) -> None:
    """``python -m bot`` with the image's environment but no token: the one-line
    configuration error, exit 2 (the same module and settings path the image runs)."""
    env = run_env(tmp_path, DATABASE_PATH=str(tmp_path / "data" / "atelier.db"))
    done = subprocess.run(
        [sys.executable, "-m", "bot"], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"DISCORD_TOKEN" in done.stderr and b"Traceback" not in done.stderr
