"""Graceful shutdown: finish in-flight work, tell WebSockets to reconnect,
hand workflow leases back."""

import asyncio
import json
import signal

import httpx
import uvicorn
import websockets

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.domain.models import utc_now
from gql_service.runtime import build_runtime
from tests.conftest import SECRET, token_for
from tests.live_server import free_port

HEADERS = {"Authorization": "Bearer " + token_for("owner@example.com")}


async def start_server(database, gateway_options):
    settings = Settings(jwt_secret=SECRET, event_poll_seconds=0.05)
    runtime = build_runtime(
        settings, database=database, verifier=TokenVerifier(secret=SECRET)
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.01)
    return server, task, runtime, f"127.0.0.1:{port}"


async def test_sigterm_finishes_requests_and_closes_websockets_with_1012(
    database, gateway_options
):
    server, task, _runtime, address = await start_server(database, gateway_options)
    ws = await websockets.connect(
        f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": HEADERS}))
    await ws.recv()
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { collectionEvents { type } }"},
            }
        )
    )

    def slow_reads(_collection, command):
        return asyncio.sleep(0.5) if command == "count" else None

    gateway_options.fault = slow_reads
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http:
        in_flight = asyncio.create_task(
            http.post(
                "/graphql",
                json={"query": "{ projects { totalCount } }"},
                headers=HEADERS,
            )
        )
        await asyncio.sleep(0.1)
        server.should_exit = True  # what uvicorn does on SIGTERM
        response = await in_flight
        closed = await asyncio.wait_for(ws.wait_closed(), 5)
        await asyncio.wait_for(task, 10)

    assert closed is None
    assert response.status_code == 200
    assert response.json()["data"]["projects"]["totalCount"] == 0
    assert ws.close_code == 1012


async def test_stopping_hands_workflow_leases_back(database, gateway_options):
    server, task, runtime, _address = await start_server(database, gateway_options)
    runner = runtime.runner
    runs = database.collection("workflow_runs")
    await runs.insert_one(
        {
            "_id": "r1",
            "status": "RUNNING",
            "lease_owner": runner.owner,
            "lease_until": utc_now(),
            "next_attempt_at": utc_now(),
        }
    )

    server.should_exit = True  # what uvicorn does on SIGTERM
    await asyncio.wait_for(task, 10)

    left = await runs.find_one({"_id": "r1"})
    assert left["lease_owner"] is None
    assert left["lease_until"] is None


async def test_real_sigterm_exits_cleanly(tmp_path):
    """Also: the serving process froze its startup objects before serving."""
    import os
    import re
    import subprocess
    import sys

    port = free_port()
    env = {
        **os.environ,
        "GQL_SERVICE_JWT_SECRET": SECRET,
        "GQL_SERVICE_PORT": str(port),
        "GQL_SERVICE_LOG_LEVEL": "INFO",
        "GQL_SERVICE_SHUTDOWN_GRACE_SECONDS": "3",
    }
    env.pop("GQL_SERVICE_MONGODB_URI", None)
    process = subprocess.Popen(  # noqa: ASYNC220 (a child that outlives calls)
        [sys.executable, "-m", "gql_service.cli", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        address = f"127.0.0.1:{port}"
        for _ in range(200):
            try:
                async with httpx.AsyncClient() as http:
                    if (await http.get(f"http://{address}/healthz")).status_code == 200:
                        break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        ws = await websockets.connect(
            f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]
        )
        await ws.send(json.dumps({"type": "connection_init", "payload": HEADERS}))
        await ws.recv()

        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(ws.wait_closed(), 5)
        code = await asyncio.to_thread(process.wait, 10)
    finally:
        if process.poll() is None:
            process.kill()

    assert ws.close_code == 1012
    # uvicorn re-raises the signal once it has shut down gracefully.
    assert code in (0, -signal.SIGTERM)
    logged = process.stderr.read().decode()
    assert "Traceback" not in logged
    frozen = re.search(r"Moved (\d+) startup objects", logged)
    assert frozen is not None and int(frozen.group(1)) > 10_000, logged[-2000:]
