"""/metrics: Prometheus text with requests, latency, subscriptions, events, runs."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gql_service.app import create_app
from gql_service.errors import ServiceUnavailableError
from gql_service.observability.metrics import OperationNames
from tests.conftest import codes, data, token_for
from tests.factories import CREATE_COLLECTION, create_collection
from tests.workflow_support import (
    CANCEL,
    CREATE_WORKFLOW,
    TRIGGER,
    approval,
    workflow_input,
)
from tests.ws_support import Socket, live

OWNER = "owner@example.com"
PROJECTS = "query ListProjects { projects { totalCount } }"
HEADERS = {"Authorization": "Bearer " + token_for(OWNER)}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels``, if present."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_metrics_are_prometheus_text_without_a_token(client):
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE gql_service_graphql_requests_total counter" in response.text


async def test_named_query_is_counted_as_ok(client, gql):
    await gql(PROJECTS)

    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="ListProjects", outcome="ok") == 1


async def test_query_latency_is_observed(client, gql):
    await gql(PROJECTS)
    await gql(PROJECTS)

    text = await scrape(client)

    count = "gql_service_graphql_request_duration_seconds_count"
    assert sample(text, count, operation="ListProjects") == 2
    bucket = "gql_service_graphql_request_duration_seconds_bucket"
    assert sample(text, bucket, operation="ListProjects", le="+Inf") == 2


async def test_unnamed_query_is_anonymous(client, gql):
    await gql("{ projects { totalCount } }")

    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="anonymous", outcome="ok") == 1


async def test_operation_name_of_the_request_wins(client, gql):
    document = PROJECTS + " query Other { projects { totalCount } }"

    await client.post(
        "/graphql",
        json={"query": document, "operationName": "Other"},
        headers=HEADERS,
    )
    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="Other", outcome="ok") == 1


async def test_error_outcome_is_the_error_code(client, gql):
    body = await gql('query Missing { collection(id: "not-an-id") { id } }')

    text = await scrape(client)

    assert codes(body) == ["BAD_USER_INPUT"]
    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="Missing", outcome="BAD_USER_INPUT") == 1


async def test_parse_failure_is_counted(client, gql):
    await gql("query Broken {")

    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    found = sample(
        text, requests, operation="anonymous", outcome="GRAPHQL_PARSE_FAILED"
    )
    assert found == 1


async def test_missing_token_is_unauthenticated(client):
    # Refused before the document is parsed: the name is the one sent.
    await client.post(
        "/graphql", json={"query": PROJECTS, "operationName": "ListProjects"}
    )

    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    found = sample(text, requests, operation="ListProjects", outcome="UNAUTHENTICATED")
    assert found == 1


async def test_malformed_request_is_bad_request(client):
    await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )

    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="anonymous", outcome="BAD_REQUEST") == 1


async def test_playground_page_is_not_a_request(client):
    await client.get("/graphql", headers={"accept": "text/html"})

    text = await scrape(client)

    assert "gql_service_graphql_requests_total{" not in text


async def test_odd_operation_name_is_other(client):
    name = "a" * 65
    document = f"query {name} {{ projects {{ totalCount }} }}"

    await client.post("/graphql", json={"query": document}, headers=HEADERS)
    text = await scrape(client)

    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="other", outcome="ok") == 1
    assert name not in text


def test_operation_names_are_capped():
    names = OperationNames(limit=2)

    labels = [names.label(n) for n in ("A", "B", "C", "A", None, "x-y")]

    assert labels == ["A", "B", "other", "A", "anonymous", "other"]


async def test_committed_events_are_counted_by_type(client, gql):
    await create_collection(gql)

    text = await scrape(client)

    events = "gql_service_events_recorded_total"
    assert sample(text, events, type="COLLECTION_CREATED") == 1
    assert sample(text, events, type="RESOURCE_ADDED") == 0


async def test_refused_change_records_no_event(client, gql):
    collection = await create_collection(gql)
    given = {
        "name": collection["name"],
        "project": "shop",
        "environment": "development",
    }
    body = await gql(CREATE_COLLECTION, {"input": given})

    text = await scrape(client)

    assert codes(body) == ["CONFLICT"]
    events = "gql_service_events_recorded_total"
    assert sample(text, events, type="COLLECTION_CREATED") == 1


async def test_database_errors_are_counted(client, gql, gateway_options):
    def unreachable(_collection: str, _command: str) -> None:
        raise ServiceUnavailableError("down")

    gateway_options.fault = unreachable
    await gql(PROJECTS)
    gateway_options.fault = None

    text = await scrape(client)

    errors = sample(text, "gql_service_database_errors_total")
    assert errors is not None and errors >= 1
    requests = "gql_service_graphql_requests_total"
    found = sample(
        text, requests, operation="ListProjects", outcome="SERVICE_UNAVAILABLE"
    )
    assert found == 1


async def test_run_status_changes_are_counted(client, gql):
    collection = await create_collection(gql)
    given = workflow_input(collection["id"], approval(OWNER))
    workflow = data(await gql(CREATE_WORKFLOW, {"input": given}))["createWorkflow"]
    run = data(await gql(TRIGGER, {"input": {"id": workflow["workflow"]["id"]}}))

    await gql(CANCEL, {"input": {"id": run["triggerWorkflow"]["run"]["id"]}})
    text = await scrape(client)

    runs = "gql_service_workflow_run_transitions_total"
    assert sample(text, runs, status="QUEUED") == 1
    assert sample(text, runs, status="CANCELLED") == 1
    assert sample(text, runs, status="SUCCEEDED") == 0


async def test_each_app_has_its_own_registry(client, gql, runtime):
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://o"
    )
    await gql(PROJECTS)

    async with other:
        text = await scrape(other)

    requests = "gql_service_graphql_requests_total"
    assert sample(text, requests, operation="ListProjects", outcome="ok") is None


async def test_live_subscriptions_are_a_gauge(database):
    async with live(database) as server, httpx.AsyncClient(trust_env=False) as http:
        url = f"http://{server.address}/metrics"
        socket = await Socket.open(server)
        await socket.authenticate(OWNER)
        await socket.subscribe("1")
        await server.wait_for_subscribers(1)
        during = sample((await http.get(url)).text, "gql_service_active_subscriptions")
        socket.abort()
        await server.wait_for_subscribers(0)

        after = sample((await http.get(url)).text, "gql_service_active_subscriptions")

    assert during == 1
    assert after == 0
