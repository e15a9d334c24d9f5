"""The demo with a Vultr key: against `fake-vultr` it shows live state and
drift; against an account without the demo's resources it still starts.

Found by a newcomer following the README: the demo crashed at startup with
the fake's key, because the fake held none of the demo's resources.
"""

from __future__ import annotations

import logging

from gql_service.demo import DATA_LEAD, TEAM_LEAD, seed_demo
from gql_service.vultr.fake import FakeVultr, add_demo_account, serve_fake
from tests.conftest import data
from tests.test_vultr_api import API_KEY, keyed_settings, open_api

WEB_APP = """query($project: String!, $env: String!) {
  collections(filter: {project: $project, environment: $env}) { nodes {
    id name resources { nodes { resourceName live { exists label region } } } } } }"""
DRIFT = """query($id: ID!) { driftReport(collectionId: $id) {
  inSync items { resourceId kind } } }"""


async def collections(api, subject: str, project: str, environment: str):
    body = await api.gql(WEB_APP, {"project": project, "env": environment}, as_=subject)
    return data(body)["collections"]["nodes"]


async def test_the_demo_against_fake_vultr_shows_live_state_and_drift(database):
    fake = FakeVultr(api_key=API_KEY)
    add_demo_account(fake)
    async with serve_fake(fake) as url, open_api(keyed_settings(url), database) as api:
        assert await seed_demo(api.runtime.services)

        [web] = await collections(api, TEAM_LEAD, "ecommerce-platform", "production")
        [db] = await collections(api, DATA_LEAD, "data-platform", "production")
        drift = data(await api.gql(DRIFT, {"id": web["id"]}, as_=TEAM_LEAD))

    lives = [node["live"] for node in web["resources"]["nodes"]]
    assert len(lives) == 3 and all(live["exists"] for live in lives)
    assert {live["label"] for live in lives} == {
        "prod-web-1",
        "prod-web-2",
        "prod-web-3",
    }
    assert db["resources"]["nodes"][0]["live"]["exists"] is True
    report = drift["driftReport"]
    assert report["inSync"] is False
    assert [item["kind"] for item in report["items"]] == ["UNTRACKED_IN_VULTR"]


async def test_the_demo_starts_against_an_account_without_its_resources(
    database, caplog
):
    fake = FakeVultr(api_key=API_KEY)
    caplog.set_level(logging.WARNING)
    async with serve_fake(fake) as url, open_api(keyed_settings(url), database) as api:
        assert await seed_demo(api.runtime.services)
        [web] = await collections(api, TEAM_LEAD, "ecommerce-platform", "production")

    assert web["resources"]["nodes"] == []
    assert any("not in the Vultr account" in r.getMessage() for r in caplog.records)
