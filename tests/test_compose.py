"""The Dockerfile and docker-compose.yml, checked by reading them (no engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from gql_service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "cmake", "clang", "curl")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def final_stage() -> list[tuple[str, str]]:
    return stages((ROOT / "Dockerfile").read_text())[-1]


def arguments(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for found, rest in stage if found == keyword]


def service_env(compose: dict[str, Any]) -> dict[str, str]:
    environment: dict[str, str] = compose["services"]["gql-service"]["environment"]
    return environment


def test_compose_names_the_service_and_the_database(compose):
    assert set(compose["services"]) == {"gql-service", "mongodb"}


def test_service_is_built_from_the_dockerfile(compose):
    build = compose["services"]["gql-service"]["build"]

    context = build if isinstance(build, str) else build["context"]
    assert (ROOT / context / "Dockerfile").is_file()


def test_mongodb_uri_points_at_the_database_service_with_its_replica_set(compose):
    uri = urlsplit(service_env(compose)["GQL_SERVICE_MONGODB_URI"])
    command = compose["services"]["mongodb"]["command"]

    replica_set = command[command.index("--replSet") + 1]
    assert uri.scheme == "mongodb"
    assert uri.hostname == "mongodb"
    assert parse_qs(uri.query)["replicaSet"] == [replica_set]


def test_database_healthcheck_initiates_the_replica_set(compose):
    database = compose["services"]["mongodb"]
    check = " ".join(database["healthcheck"]["test"])

    assert database["image"].startswith("mongo:")
    assert "rs.initiate(" in check
    assert '"rs0"' in check
    assert '"mongodb:27017"' in check


def test_service_waits_for_a_healthy_database(compose):
    depends = compose["services"]["gql-service"]["depends_on"]

    assert depends["mongodb"]["condition"] == "service_healthy"


def test_jwt_secret_comes_from_the_environment(compose):
    secret = service_env(compose)["GQL_SERVICE_JWT_SECRET"]

    assert secret.startswith("${GQL_SERVICE_JWT_SECRET")


def test_compose_settings_are_known_settings(compose):
    known = {"GQL_SERVICE_" + name.upper() for name in Settings.model_fields}

    assert set(service_env(compose)) <= known


def test_dockerfile_builds_a_wheel_in_a_builder_stage():
    builder, _final = stages((ROOT / "Dockerfile").read_text())

    assert " AS " in builder[0][1].upper()
    assert any("pip wheel" in rest for keyword, rest in builder if keyword == "RUN")


def test_final_stage_is_slim_python(final_stage):
    (base,) = arguments(final_stage, "FROM")

    assert base == "python:3.11-slim"


def test_final_stage_installs_no_build_tools(final_stage):
    runs = " ".join(arguments(final_stage, "RUN"))

    assert "apt-get install" not in runs
    assert not any(re.search(rf"\b{re.escape(tool)}\b", runs) for tool in BUILD_TOOLS)
    assert "--no-index" in runs


def test_final_stage_runs_as_a_user_without_privileges(final_stage):
    users = arguments(final_stage, "USER")

    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_healthcheck_asks_healthz_with_urllib(final_stage):
    (check,) = arguments(final_stage, "HEALTHCHECK")

    assert "/healthz" in check
    assert "urllib" in check
    assert "curl" not in check


def test_image_listens_on_all_interfaces_on_8000(final_stage):
    env = " ".join(arguments(final_stage, "ENV"))

    assert arguments(final_stage, "EXPOSE") == ["8000"]
    assert "GQL_SERVICE_HOST=0.0.0.0" in env


def test_entrypoint_serves(final_stage):
    (entrypoint,) = arguments(final_stage, "ENTRYPOINT")

    assert entrypoint == '["gql-service", "serve"]'


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()

    for entry in (".env", ".git", ".venv", ".gql-service-secret"):
        assert entry in ignored
