"""The committed schema.graphql is the export of the code, and holds the contract."""

import subprocess
import sys
from pathlib import Path

import pytest

from gql_service.api.schema import export_sdl

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_committed_schema_matches_export():
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")

    assert committed == export_sdl(), "run 'make schema' and commit schema.graphql"


@pytest.mark.skipif(not CHECKER.exists(), reason="../shared/tools is not present")
def test_schema_holds_the_core_contract():
    result = subprocess.run(
        [sys.executable, str(CHECKER), str(ROOT / "schema.graphql"), "--cap", "core"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
