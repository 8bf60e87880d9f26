"""A ``lodestone serve`` process of its own: start it on a free port, wait until /readyz answers 200, stop it.

For the tests, the benchmark and the docs check; the service itself never imports this module. It lives
in the package because that is what both ``tests/`` and ``scripts/`` can import: a script run as
``python scripts/bench.py`` has only ``scripts/`` on its path, and ``tests`` is not installed. Standard
library only, since httpx is a development dependency.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
LODESTONE = Path(sys.executable).parent / "lodestone"

# urllib honours http_proxy from the environment; the server is on loopback, so never use a proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerNotReady(RuntimeError):
    """The server exited, or /readyz did not answer 200 in time; the message ends with the server's log."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now, chosen by the kernel."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(log: Path, lines: int = 100) -> str:
    try:
        kept = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n".join(kept) or "(empty log)"


def stop_process_group(process: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM the process group ``process`` leads (``start_new_session=True``), SIGKILL it after ``grace`` s."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def readiness(self) -> str | None:
        """None when GET /readyz answers 200, else what happened instead."""
        try:
            with _DIRECT.open(f"{self.base_url}/readyz", timeout=2) as response:
                status: int = response.status
        except urllib.error.HTTPError as exc:  # 503 until the database is migrated and reachable
            exc.close()
            return f"HTTP {exc.code}"
        except (OSError, http.client.HTTPException) as exc:
            return str(exc) or type(exc).__name__
        return None if status == 200 else f"HTTP {status}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (last := self.readiness()) is not None:
            if self.process.poll() is not None:
                raise ServerNotReady(
                    f"the server exited with status {self.process.returncode} before /readyz answered 200; "
                    f"its log:\n{log_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise ServerNotReady(
                    f"/readyz did not answer 200 within {timeout:.0f} s (last: {last}); "
                    f"the server's log:\n{log_tail(self.log)}"
                )
            time.sleep(0.2)

    def stop(self, grace: float = 30) -> None:
        stop_process_group(self.process, grace)

    def kill(self) -> None:
        """SIGKILL the server and all its workers at once: no shutdown, no cleanup."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def serving(
    env: Mapping[str, str],
    log: Path,
    *,
    options: Sequence[str] = (),
    command: Sequence[str] | None = None,
    port: int | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    grace: float = 30,
) -> Iterator[ServerProcess]:
    """``lodestone serve --port PORT *options``, ready to answer; stopped at the end, killed if it lingers.

    ``command`` runs instead, and must listen on ``port``, which it then needs. The server runs in a
    process group of its own (stopping it stops its workers), its output appended to ``log``, whose
    end is in the ``ServerNotReady`` raised if /readyz does not answer 200 within ``timeout`` seconds.
    """
    if command is None:
        port = free_port() if port is None else port
        command = [str(LODESTONE), "serve", "--port", str(port), *options]
    elif port is None:
        raise ValueError("a command of its own needs the port it listens on")
    with log.open("ab") as sink:
        # A command of the tests' or the scripts' own making, never one from a request.
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(process, f"http://{HOST}:{port}", log)
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        server.stop(grace)
