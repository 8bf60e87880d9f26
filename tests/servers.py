"""Real server processes for tests that need several workers or a crash: ``lodestone serve``."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.serving import ServerProcess, free_port, serving
from tests.conftest import ADMIN_KEY

__all__ = ["Server", "free_port", "lodestone_env", "run_lodestone", "running_server", "wait_ready"]

BIN = Path(sys.executable).parent


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


class Server(ServerProcess):
    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=60,
            **kwargs,  # type: ignore[arg-type]
        )


def wait_ready(server: ServerProcess, timeout: float = 60) -> None:
    server.wait_ready(timeout)


@contextmanager
def running_server(database_url: str, log_dir: Path, workers: int = 2, **settings: str) -> Iterator[Server]:
    """``lodestone serve --workers N`` in its own process group, stopped (or killed) at the end.

    ``settings`` are more of the server's settings (``key_cache_seconds="1"``: ``LODESTONE_KEY_CACHE_SECONDS``).
    """
    port = free_port()
    env = lodestone_env(database_url) | {f"LODESTONE_{name.upper()}": value for name, value in settings.items()}
    with serving(env, log_dir / f"server-{port}.log", options=["--workers", str(workers)], port=port) as started:
        yield Server(started.process, started.base_url, started.log)
