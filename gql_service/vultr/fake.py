"""A fake Vultr API v2 for tests and local runs, serving real response bodies.

The resources it starts with are the items of real Vultr bodies (official
OpenAPI examples, govultr test bodies, live plan captures) kept in
``tests/data/vultr/``; ``SEED_FILES`` says which file seeds which kind. It
reproduces Vultr's conventions: ``Authorization: Bearer <key>`` (401 with
Vultr's error body otherwise; the plan catalogues are public), list
envelopes with ``per_page``/``cursor`` pagination and ``meta.links`` (the
cursor is base64 of ``next__<last id>``, as observed; databases answer one
page with ``meta.total`` only), gets in a singular envelope (registries
bare) and ``{"error": ..., "status": 404}`` for unknown ids.

Tests steer it: ``add``/``remove``/``add_instances`` change the account,
``fail_next`` answers the next requests with 429 (with ``Retry-After``) or
5xx, ``malform_next`` with a truncated body, and ``requests`` counts every
request received. It needs a source checkout (the bodies live under tests/).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hmac
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gql_service.demo import demo_vultr_resources
from gql_service.domain.models import utc_now
from gql_service.vultr.endpoints import ENDPOINTS, VultrKind, item_id
from gql_service.vultr.resources import spec_for

logger = logging.getLogger(__name__)

FAKE_API_KEY = "fake-vultr-api-key"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "vultr"
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500

SEED_FILES: dict[VultrKind, tuple[str, ...]] = {
    VultrKind.INSTANCES: (
        "reconstructed/instances_list_page1_per_page2.json",
        "reconstructed/instances_list_page2_per_page2.json",
        "openapi-latest/instances_list.json",
    ),
    VultrKind.BARE_METALS: ("openapi-latest/bare_metals_list.json",),
    VultrKind.LOAD_BALANCERS: ("openapi-latest/load_balancers_list.json",),
    VultrKind.BLOCKS: ("openapi-latest/blocks_list.json",),
    VultrKind.OBJECT_STORAGE: ("openapi-latest/object_storage_list.json",),
    VultrKind.DATABASES: ("openapi-latest/databases_list.json",),
    VultrKind.DOMAINS: ("openapi-latest/domains_list.json",),
    VultrKind.FIREWALLS: ("openapi-latest/firewalls_list.json",),
    VultrKind.VPCS: ("openapi-2023/vpcs_list.json",),
    VultrKind.VPC2: ("openapi-2023/vpc2_list.json",),
    VultrKind.RESERVED_IPS: ("openapi-latest/reserved_ips_list.json",),
    VultrKind.SNAPSHOTS: ("openapi-latest/snapshots_list.json",),
    VultrKind.SSH_KEYS: ("openapi-latest/ssh_keys_list.json",),
    VultrKind.STARTUP_SCRIPTS: (
        "govultr/startup_script__StartupScriptServiceHandler_List.json",
    ),
    VultrKind.REGISTRIES: ("govultr/container_registry__VCRServiceHandler_List.json",),
    VultrKind.KUBERNETES_CLUSTERS: ("openapi-latest/kubernetes_clusters_list.json",),
    VultrKind.CDN_PULL_ZONES: ("govultr/cdn__CDNPullZoneServiceHandler_List.json",),
}

# Path -> (file, list key, paginated).
PLAN_FILES: dict[str, tuple[str, str, bool]] = {
    "plans": ("vultr-php/v2-get-vpsplans.json", "plans", True),
    "plans-metal": ("vultr-php/v2-get-plans-metal.json", "plans_metal", True),
    "databases/plans": ("openapi-latest/databases_plans_list.json", "plans", False),
}
PUBLIC_PATHS = frozenset({"plans", "plans-metal"})
SNAPSHOT_FILE = "govultr/snapshot__SnapshotServiceHandler_Create.json"
ERROR_FILES = {
    400: "errors/400_bad_request.json",
    401: "reconstructed/401_unauthorized.json",
    403: "reconstructed/403_forbidden.json",
    429: "errors/429_rate_limit_exceeded.json",
}
INSTANCE_ACTIONS = {"start": "running", "halt": "stopped", "reboot": "running"}


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: int | None = None
    body: bytes | None = None


class FakeVultr:
    """The fake account: its resources, its failure switches, its counter."""

    def __init__(self, api_key: str = FAKE_API_KEY, data_dir: Path | None = None):
        self.api_key = api_key
        self.data_dir = data_dir or DEFAULT_DATA_DIR
        self.items = {
            kind: self._seed(kind, files) for kind, files in SEED_FILES.items()
        }
        self.plans = {path: self._load(spec[0]) for path, spec in PLAN_FILES.items()}
        self.requests = 0
        # "GET /v2/instances?per_page=2", in arrival order.
        self.log: list[str] = []
        self._failures: list[_Failure] = []
        # Paths ("databases") that answer with this status until repaired.
        self._broken: dict[str, int] = {}
        self.app = Starlette(
            routes=[Route("/v2/{path:path}", self._handle, methods=["GET", "POST"])]
        )

    def add(self, kind: VultrKind, item: dict[str, Any]) -> dict[str, Any]:
        self.items[kind].append(item)
        return item

    def remove(self, kind: VultrKind, resource_id: str) -> bool:
        before = len(self.items[kind])
        self.items[kind] = [
            i for i in self.items[kind] if item_id(kind, i) != resource_id
        ]
        return len(self.items[kind]) < before

    def find(self, kind: VultrKind, resource_id: str) -> dict[str, Any] | None:
        return next(
            (i for i in self.items[kind] if item_id(kind, i) == resource_id), None
        )

    def add_instances(
        self,
        count: int,
        *,
        tags: Iterable[str] = (),
        plan: str = "vc2-1c-1gb",
        region: str = "ewr",
        label_prefix: str = "generated",
    ) -> list[dict[str, Any]]:
        """Add ``count`` instances cloned from a real instance body."""
        template = self.items[VultrKind.INSTANCES][0]
        added = []
        for number in range(count):
            instance = copy.deepcopy(template)
            label = f"{label_prefix}-{number}"
            instance.update(
                id=str(uuid.uuid4()),
                label=label,
                hostname=label,
                plan=plan,
                region=region,
                tags=list(tags),
                main_ip=f"192.0.2.{number % 250 + 1}",
            )
            added.append(self.add(VultrKind.INSTANCES, instance))
        return added

    def add_like(
        self, kind: VultrKind, resource_id: str, label: str, region: str, tag: str
    ) -> dict[str, Any]:
        """Add a copy of the kind's first real body under a new id and label,
        in ``region``, carrying ``tag`` the way that kind carries tags."""
        item = copy.deepcopy(self.items[kind][0])
        item.update(id=resource_id, label=label)
        if "hostname" in item:
            item["hostname"] = label
        template_region = str(item.get("region", ""))
        item["region"] = region.upper() if template_region.isupper() else region
        if "tag" in item and "tags" not in item:
            item["tag"] = tag
        else:
            item["tags"] = [tag]
        return self.add(kind, item)

    def fail_next(
        self, count: int, status: int = 500, *, retry_after: int | None = None
    ) -> None:
        """Answer the next ``count`` requests with ``status``."""
        self._failures.extend([_Failure(status, retry_after)] * count)

    def clear_failures(self) -> None:
        """Forget failures queued by fail_next or malform_next and not used."""
        self._failures.clear()

    def break_path(self, path: str, status: int = 500) -> None:
        """Answer every request for ``path`` (e.g. "databases") with ``status``."""
        self._broken[path.strip("/")] = status

    def repair_path(self, path: str) -> None:
        self._broken.pop(path.strip("/"), None)

    def malform_next(self, count: int = 1, body: bytes = b'{"instances": [') -> None:
        """Answer the next ``count`` requests 200 with a broken JSON body."""
        self._failures.extend([_Failure(200, body=body)] * count)

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        path = request.path_params["path"].strip("/")
        query = f"?{request.url.query}" if request.url.query else ""
        self.log.append(f"{request.method} /v2/{path}{query}")
        if self._failures:
            return self._failure(self._failures.pop(0))
        if path in self._broken:
            return self._error(self._broken[path])
        if path not in PUBLIC_PATHS and not self._authorized(request):
            return self._error(401)
        if request.method == "POST":
            return await self._post(path, request)
        return self._get(path, request)

    def _get(self, path: str, request: Request) -> Response:
        if path in PLAN_FILES:
            _file, key, paginated = PLAN_FILES[path]
            plans = self.plans[path].get(key, [])
            return self._list(key, plans, request, paginated, lambda p: p.get("id"))
        for kind, endpoint in ENDPOINTS.items():
            if path == endpoint.list_path.strip("/"):
                return self._list(
                    endpoint.list_key,
                    self.items[kind],
                    request,
                    kind is not VultrKind.DATABASES,
                    lambda i, k=kind: item_id(k, i),
                )
            prefix = endpoint.get_path.strip("/") + "/"
            rest = path.removeprefix(prefix)
            if path.startswith(prefix) and rest and "/" not in rest:
                return self._get_one(kind, rest)
        return self._error(404, "Not found.")

    def _get_one(self, kind: VultrKind, resource_id: str) -> Response:
        endpoint = ENDPOINTS[kind]
        item = self.find(
            kind, resource_id.lower() if kind is VultrKind.DOMAINS else resource_id
        )
        if item is None:
            return self._not_found(kind)
        body = item if endpoint.get_key is None else {endpoint.get_key: item}
        return JSONResponse(body)

    async def _post(self, path: str, request: Request) -> Response:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "instances" and parts[2] in INSTANCE_ACTIONS:
            instance = self.find(VultrKind.INSTANCES, parts[1])
            if instance is None:
                return self._not_found(VultrKind.INSTANCES)
            instance["power_status"] = INSTANCE_ACTIONS[parts[2]]
            return Response(status_code=204)
        if path == "snapshots":
            return await self._create_snapshot(request)
        return self._error(404, "Not found.")

    async def _create_snapshot(self, request: Request) -> Response:
        try:
            payload = await request.json()
        except ValueError:
            return self._error(400)
        instance_id = payload.get("instance_id") if isinstance(payload, dict) else None
        if not isinstance(instance_id, str):
            return self._error(400)
        if self.find(VultrKind.INSTANCES, instance_id) is None:
            return self._not_found(VultrKind.INSTANCES)
        snapshot = copy.deepcopy(self._load(SNAPSHOT_FILE)["snapshot"])
        snapshot.update(
            id=str(uuid.uuid4()),
            description=str(payload.get("description", "")),
            status="pending",
            date_created=utc_now().isoformat(timespec="seconds"),
        )
        self.add(VultrKind.SNAPSHOTS, snapshot)
        return JSONResponse({"snapshot": snapshot}, status_code=201)

    def _list(
        self,
        key: str,
        items: list[dict[str, Any]],
        request: Request,
        paginated: bool,
        id_of: Any,
    ) -> Response:
        if not paginated:
            return JSONResponse({key: items, "meta": {"total": len(items)}})
        try:
            per_page = int(request.query_params.get("per_page", DEFAULT_PER_PAGE))
            start = _start(
                items, id_of, request.query_params.get("cursor", ""), per_page
            )
        except ValueError:
            return self._error(400)
        if not 1 <= per_page <= MAX_PER_PAGE:
            return self._error(400)
        page = items[start : start + per_page]
        more = start + per_page < len(items)
        links = {
            "next": _cursor("next", id_of(page[-1])) if page and more else "",
            "prev": _cursor("prev", id_of(page[0])) if page and start > 0 else "",
        }
        return JSONResponse({key: page, "meta": {"total": len(items), "links": links}})

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        expected = "Bearer " + self.api_key
        return hmac.compare_digest(given.encode(), expected.encode())

    def _failure(self, failure: _Failure) -> Response:
        if failure.body is not None:
            return Response(failure.body, failure.status, media_type="application/json")
        response = self._error(failure.status)
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response

    def _not_found(self, kind: VultrKind) -> Response:
        if kind is VultrKind.INSTANCES:
            return JSONResponse(self._load("errors/404_instance_not_found.json"), 404)
        noun = (ENDPOINTS[kind].get_key or "registry").replace("_", " ")
        return self._error(404, f"{noun} not found")

    def _error(self, status: int, message: str | None = None) -> Response:
        if message is None and status in ERROR_FILES:
            return JSONResponse(self._load(ERROR_FILES[status]), status)
        text = message or ("Internal server error." if status >= 500 else "Error.")
        return JSONResponse({"error": text, "status": status}, status)

    def _seed(self, kind: VultrKind, files: Iterable[str]) -> list[dict[str, Any]]:
        key = ENDPOINTS[kind].list_key
        return [item for file in files for item in self._load(file)[key]]

    def _load(self, file: str) -> dict[str, Any]:
        with (self.data_dir / file).open(encoding="utf-8") as handle:
            body: dict[str, Any] = json.load(handle)
        return body


def _cursor(direction: str, resource_id: object) -> str:
    return base64.b64encode(f"{direction}__{resource_id}".encode()).decode()


def _start(items: list[dict[str, Any]], id_of: Any, cursor: str, per_page: int) -> int:
    """Index of the first item of the page a cursor names; ValueError if bad."""
    if not cursor:
        return 0
    try:
        direction, _, resource_id = base64.b64decode(cursor).decode().partition("__")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    ids = [str(id_of(item)) for item in items]
    if direction not in ("next", "prev") or resource_id not in ids:
        raise ValueError("bad cursor")
    index = ids.index(resource_id)
    return index + 1 if direction == "next" else max(0, index - per_page)


@contextlib.asynccontextmanager
async def serve_fake(fake: FakeVultr, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``fake`` on a free port of ``host``; yield its base URL (…/v2)."""
    # IPPROTO_TCP explicitly: asyncio turns Nagle off only on sockets whose
    # proto says TCP, and with Nagle every request waits 40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}/v2"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def run_fake(
    host: str = "127.0.0.1",
    port: int = 8790,
    *,
    api_key: str = FAKE_API_KEY,
    data_dir: Path | None = None,
    with_demo: bool = True,
) -> None:
    """Serve the fake until interrupted (the ``gql-service fake-vultr`` command).

    ``with_demo`` adds the demo data set's resources (see add_demo_account).

    Point the service at it with GQL_SERVICE_VULTR_API_URL=http://<host>:<port>/v2
    and GQL_SERVICE_VULTR_API_KEY set to ``api_key``.
    """
    fake = FakeVultr(api_key, data_dir)
    if with_demo:
        add_demo_account(fake)
    logger.info("Fake Vultr API on http://%s:%d/v2", host, port)
    uvicorn.run(fake.app, host=host, port=port, log_level="info")


def add_demo_account(fake: FakeVultr) -> None:
    """Hold every resource `serve --demo` references, so the demo shows live
    state, cost and a drift report with something in it."""
    for resource in demo_vultr_resources():
        spec = spec_for(resource.resource_type)
        assert spec is not None
        fake.add_like(
            spec.kind,
            resource.resource_id,
            resource.label,
            resource.region,
            resource.tag,
        )
