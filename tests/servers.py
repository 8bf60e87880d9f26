"""Real server processes for tests that need several workers or a crash: ``lodestone serve``."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ADMIN_KEY

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lodestone_env(database_url: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LODESTONE_")}
    return environment | {"LODESTONE_DATABASE_URL": database_url, "LODESTONE_ADMIN_KEY": ADMIN_KEY}


def run_lodestone(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lodestone"), *args],
        env=lodestone_env(database_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=60,
            **kwargs,  # type: ignore[arg-type]
        )

    def kill(self) -> None:
        """SIGKILL the server and all its workers at once: no shutdown, no cleanup."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"server did not become ready:\n{server.log.read_text()}")
        time.sleep(0.2)


@contextmanager
def running_server(database_url: str, log_dir: Path, workers: int = 2) -> Iterator[Server]:
    """``lodestone serve --workers N`` in its own process group, stopped (or killed) at the end."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(BIN / "lodestone"), "serve", "--port", str(port), "--workers", str(workers)],
            env=lodestone_env(database_url),
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log=log)
    try:
        wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
