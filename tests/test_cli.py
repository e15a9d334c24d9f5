"""The command line: settings errors, tokens from the local secret, the schema."""

import subprocess
import sys

from gql_service.auth.local_secret import load_or_create_secret
from gql_service.auth.tokens import TokenVerifier
from gql_service.cli import main


def run_cli(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gql_service.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_invalid_setting_stops_startup_naming_it(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GQL_SERVICE_PORT": "not-a-port"}

    result = run_cli("serve", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "GQL_SERVICE_PORT" in result.stderr


def test_mongodb_without_a_signing_key_refuses_to_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GQL_SERVICE_MONGODB_URI": "mongodb://127.0.0.1:1"}

    result = run_cli("serve", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "GQL_SERVICE_JWT_SECRET" in result.stderr


async def test_token_signs_with_the_secret_serve_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GQL_SERVICE_JWT_SECRET", raising=False)
    secret = load_or_create_secret(".gql-service-secret")

    assert main(["token", "dev@example.com", "--group", "ops", "--ttl", "60"]) == 0

    token = capsys.readouterr().out.strip()
    principal = await TokenVerifier(secret=secret).verify(token)
    assert principal.subject == "dev@example.com"
    assert principal.groups == ("ops",)
    assert (tmp_path / ".gql-service-secret").stat().st_mode & 0o777 == 0o600


def test_token_without_any_secret_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GQL_SERVICE_JWT_SECRET", raising=False)

    assert main(["token", "dev@example.com"]) == 2

    assert "GQL_SERVICE_JWT_SECRET" in capsys.readouterr().err


def test_export_schema_prints_the_sdl(capsys):
    assert main(["export-schema"]) == 0

    assert "type ServiceCollection implements Node" in capsys.readouterr().out
