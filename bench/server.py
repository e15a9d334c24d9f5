"""Start `gql-service serve` in a child process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

SECRET = "bench-secret-" + "b" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def service(
    extra_env: dict[str, str] | None = None, startup_seconds: float = 30
) -> Iterator[tuple[str, int]]:
    """Yield (base URL, pid) of a running service; stop it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "GQL_SERVICE_JWT_SECRET": SECRET,
        "GQL_SERVICE_PORT": str(port),
        "GQL_SERVICE_HOST": "127.0.0.1",
        "GQL_SERVICE_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    env.pop("GQL_SERVICE_MONGODB_URI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gql_service.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the service did not start")
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
