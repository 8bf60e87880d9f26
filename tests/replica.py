"""A real PostgreSQL streaming replica of the test cluster, on this machine, for as long as it is needed.

``streaming_replica(primary_url)`` takes ``pg_basebackup -R`` of the running primary into a temporary
directory, starts it with ``pg_ctl`` on a free port as the ``postgres`` user, waits until it has caught
up, and stops and removes it at the end. It needs root (to act as ``postgres``), the server's binaries,
and a primary on this machine whose ``pg_hba.conf`` lets ``postgres`` replicate over its socket (the
Debian default, ``local replication all peer``; ``scripts/start_postgres.sh`` keeps it so).

Standard library and SQLAlchemy only, so ``scripts/bench.py`` can use it too.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from service.db import format_lsn, parse_lsn
from service.serving import free_port

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# A hot standby must allow at least as much of these as its primary, or it refuses to start.
_MATCHED = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
            "max_locks_per_transaction")  # fmt: skip


class ReplicaUnavailable(RuntimeError):
    """This machine cannot run a replica of the primary; the message says why."""


@dataclass
class Replica:
    data: Path
    port: int
    url: str  # the application's: the primary's role and database, over TCP
    admin: sa.Engine  # the postgres superuser over the replica's own socket
    log: Path

    def _pg_ctl(self, *args: str) -> None:
        _as_postgres([_bin(self.data, "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args])

    def start(self) -> None:
        self._pg_ctl("-w", "-t", "120", "start")

    def stop(self) -> None:
        self.admin.dispose()
        self._pg_ctl("-w", "-t", "120", "-m", "fast", "stop")

    def pause_replay(self) -> None:
        """Stop applying WAL (it is still received): from now on the replica's data stands still."""
        with self.admin.connect() as connection:
            connection.exec_driver_sql("SELECT pg_wal_replay_pause()")
            while connection.exec_driver_sql("SELECT pg_get_wal_replay_pause_state()").scalar_one() != "paused":
                time.sleep(0.05)

    def resume_replay(self) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql("SELECT pg_wal_replay_resume()")

    def replayed(self) -> int:
        return self._position("pg_last_wal_replay_lsn()")

    def received(self) -> int:
        return self._position("pg_last_wal_receive_lsn()")

    def _position(self, function: str) -> int:
        with self.admin.connect() as connection:
            return parse_lsn(connection.exec_driver_sql(f"SELECT {function}::text").scalar_one() or "") or 0

    def wait_replayed(self, position: int, timeout: float = 120) -> None:
        """Until the replica has replayed the primary's WAL up to ``position``."""
        self._wait(self.replayed, position, timeout)

    def wait_received(self, position: int, timeout: float = 120) -> None:
        """Until the replica has received (not necessarily replayed) the primary's WAL up to ``position``."""
        self._wait(self.received, position, timeout)

    def _wait(self, reached: Callable[[], int], position: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while reached() < position:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica did not reach {format_lsn(position)} in {timeout:.0f} s")
            time.sleep(0.05)

    def application_names(self) -> list[str]:
        """The application names of the connections the replica holds (``lodestone-read`` for the service's)."""
        with self.admin.connect() as connection:
            query = "SELECT application_name FROM pg_stat_activity WHERE backend_type = 'client backend'"
            return [name for (name,) in connection.exec_driver_sql(query)]


def primary_position(primary_url: str) -> int:
    """The primary's WAL position now: a replica that reached it has everything committed before."""
    engine = sa.create_engine(primary_url)
    with engine.connect() as connection:
        position = parse_lsn(connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one())
    engine.dispose()
    return position or 0


def _as_postgres(command: list[str]) -> None:
    # Commands of the harness's own making; postgres refuses to run as root.
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise ReplicaUnavailable(f"{' '.join(command[:2])} failed ({result.returncode}): {result.stderr.strip()}")


def _bin(data: Path, name: str) -> str:
    return str(data.parent / "bin" / name)


def unavailable_reason(primary_url: str) -> str | None:
    """Why no replica can be made here (None: one can)."""
    if os.geteuid() != 0:
        return "making a replica needs root (to run pg_basebackup and postgres as the postgres user)"
    if shutil.which("runuser") is None:
        return "runuser is missing"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user"
    host = make_url(primary_url).host or "localhost"
    if host not in LOCAL_HOSTS:
        return f"the primary ({host}) is not on this machine"
    try:
        _server_bin(primary_url)
    except (ReplicaUnavailable, sa.exc.SQLAlchemyError) as exc:
        return str(exc)
    return None


def _server_bin(primary_url: str) -> Path:
    engine = sa.create_engine(primary_url)
    with engine.connect() as connection:
        major = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
    engine.dispose()
    folder = Path(f"/usr/lib/postgresql/{major}/bin")
    if not (folder / "pg_basebackup").is_file():
        raise ReplicaUnavailable(f"pg_basebackup of PostgreSQL {major} is not in {folder}")
    return folder


@contextmanager
def streaming_replica(primary_url: str) -> Iterator[Replica]:
    """A hot standby of ``primary_url``'s cluster, streaming and caught up; stopped and removed at the end."""
    server_bin = _server_bin(primary_url)
    primary = sa.create_engine(primary_url)
    with primary.connect() as connection:
        show = {name: connection.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in ("port", *_MATCHED)}  # fmt: skip
    primary.dispose()
    # Not under pytest's tmp_path: that is root's alone, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="lodestone-replica-"))
    (root / "bin").symlink_to(server_bin)
    data, log, port = root / "data", root / "replica.log", free_port()
    postgres = pwd.getpwnam("postgres")
    os.chown(root, postgres.pw_uid, postgres.pw_gid)
    started = False
    try:
        # Over the server's default socket, as postgres: the replication the stock pg_hba.conf allows.
        _as_postgres([_bin(data, "pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-c", "fast",
                      "-p", str(show["port"])])  # fmt: skip
        settings = {name: show[name] for name in _MATCHED} | {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{root}'",
            "hot_standby": "on",
            "shared_buffers": "'32MB'",
            "fsync": "off",  # a scratch replica: losing it to a crash loses nothing
        }
        (data / "postgresql.conf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        # Its own socket trusts local users (only root and postgres can reach it); TCP asks for passwords.
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        (data / "pg_ident.conf").write_text("")
        for path in (data / "postgresql.conf", data / "pg_hba.conf", data / "pg_ident.conf"):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
        target = make_url(primary_url)
        admin_url = sa.URL.create(
            "postgresql+psycopg", username="postgres", database=target.database, query={"host": str(root)}
        ).set(port=port)
        replica = Replica(
            data=data,
            port=port,
            url=target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False),
            admin=sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool),
            log=log,
        )
        log.touch()
        os.chown(log, postgres.pw_uid, postgres.pw_gid)
        replica.start()
        started = True
        replica.wait_replayed(primary_position(primary_url))
        yield replica
    finally:
        if started:
            subprocess.run(
                ["runuser", "-u", "postgres", "--", _bin(data, "pg_ctl"), "-D", str(data), "-m", "immediate",
                 "stop"], capture_output=True, check=False, timeout=120
            )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
