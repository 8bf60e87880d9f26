"""``make bench``: a synthetic supply chain, loaded through the service, measured side by side in one run.

    .venv/bin/python scripts/bench.py --size quick        # minutes: 1k lots at depth 3 and 12
    .venv/bin/python scripts/bench.py --lots 1000,100000   # bigger, slower

For each (lots, depth) it loads a fresh SQLite database through ``POST /v1/events/batch``,
starts ``lodestone serve --workers <cores>``, and drives it with ``wrk`` (many connections):
the SKU answer, a lot answer at the bottom of the deepest chain, and ``/healthz`` as the
framework's ceiling. In the same run it times the hand-written alternative (a recursive SQL
query over the events, computed at request time), ingest (single POSTs, batches, raw SQL
inserts of the same rows) and each worker's peak memory. It writes ``BENCHMARKS.md``.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEY = "bench-admin-key"
FAN_IN = 4


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(db_url: str, workers: int, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODESTONE_")}
    env |= {"LODESTONE_DATABASE_URL": db_url, "LODESTONE_ADMIN_KEY": KEY}
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [str(BIN / "lodestone"), "serve", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=sink, stderr=sink, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"server did not start; see {log}")
        yield base, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def line_events(line: int, depth: int, sku: str) -> list[dict[str, Any]]:
    """One chain: FAN_IN mine lots received, refined together, then depth-2 more steps down to a product."""
    day = "2025-06-01T00:00:00Z"
    mined = [
        {"code": f"L{line}-R{i}", "material": "concentrate", "quantity": "1000", "unit": "kg",
         "composition": {"Nd": "60", "Pr": "20", "Dy": "1"},
         "declared_origin": [{"route": {"mining": ("CN", "AU", "US", "MM")[(line + i) % 4]}, "percent": "100"}]}
        for i in range(FAN_IN)
    ]  # fmt: skip
    events = [{"type": "receipt", "facility": "PLANT", "occurred_at": day, "outputs": mined}]
    previous = [{"lot_code": m["code"], "organization": "BENCH", "quantity": "1000"} for m in mined]
    quantity = "400"  # kg of each later lot: the pool's 324 kg of rare earths fit in it
    for step in range(1, depth):
        last = step == depth - 1
        stage = "refining" if step == 1 else ("manufacturing" if last else None)
        material = "product" if last else "oxide"
        output: dict[str, Any] = {"code": f"L{line}-S{step}", "material": material, "quantity": quantity}
        output["unit"] = "kg"
        if last:
            output["sku"] = sku
        step_event: dict[str, Any] = {"type": "processing", "facility": "PLANT", "occurred_at": day}
        events.append(step_event | {"stage": stage, "inputs": previous, "outputs": [output]})
        previous = [{"lot_code": output["code"], "organization": "BENCH", "quantity": quantity}]
    return events


def post_batch(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    response = client.post("/v1/events/batch", json={"events": events})
    if response.status_code != 201:
        raise SystemExit(f"batch refused: {response.text[:500]}")


def load_chain(base: str, lots: int, depth: int) -> tuple[int, float, str]:
    """Load about ``lots`` lots; returns (lots loaded, lots per second, code of the deepest product)."""
    lines = max(1, lots // (FAN_IN + depth - 1))
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=600) as client:
        client.post("/v1/organizations", json={"code": "BENCH", "name": "Bench", "country": "US"})
        stages = ["refining", "metal_making", "magnet_making", "manufacturing"]
        plant = {"code": "PLANT", "name": "Plant", "organization": "BENCH", "country": "MY", "stages": stages}
        client.post("/v1/facilities", json=plant)
        for s in range(max(1, lines // 10)):
            client.post("/v1/skus", json={"sku": f"SKU-{s}", "name": f"SKU {s}", "organization": "BENCH"})
        batch: list[dict[str, Any]] = []
        started = time.perf_counter()
        for line in range(lines):
            events = line_events(line, depth, f"SKU-{line // 10 % max(1, lines // 10)}")
            if len(batch) + len(events) > 1000:
                post_batch(client, batch)
                batch = []
            batch += events
        if batch:
            post_batch(client, batch)
        elapsed = time.perf_counter() - started
    loaded = lines * (FAN_IN + depth - 1)
    return loaded, loaded / elapsed, f"L{lines - 1}-S{depth - 1}"


def wrk(url: str, seconds: int, connections: int) -> Load:
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {KEY}", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(name: str) -> float:
        value, unit = re.search(rf"\s{name}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors on {url}:\n{out}")
    return Load(rps, percentile("50%"), percentile("99%"))


def peak_rss_mb(process: subprocess.Popen[bytes]) -> float:
    """Largest VmHWM among the server's worker processes."""
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    peaks = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)  # type: ignore[union-attr]
    return max(peaks, default=0.0)


RECURSIVE = """
WITH RECURSIVE ancestors(lot_pk, share) AS (
    SELECT pk, 1.0 FROM lot WHERE sku_pk = :sku AND status = 'active' AND is_production
    UNION ALL
    SELECT i.lot_pk, a.share * CAST(i.quantity AS REAL) / CAST(l.quantity AS REAL)
    FROM ancestors a JOIN lot l ON l.pk = a.lot_pk JOIN event_input i ON i.event_pk = l.event_pk
)
SELECT l.origin, a.share FROM ancestors a JOIN lot l ON l.pk = a.lot_pk
JOIN event e ON e.pk = l.event_pk WHERE e.type IN ('extraction', 'receipt')
"""


def time_in_process(db_url: str, sku: str, repeat: int) -> tuple[float, float, int]:
    """Median ms of the stored-origin SKU answer and of the recursive-SQL alternative, on the same database."""
    from service.assessments import Question, assess_sku
    from service.config import Settings
    from service.db import create_db_engine, transaction

    engine = create_db_engine(Settings(database_url=db_url))
    question = Question()
    stored, walked = [], []
    with transaction(engine, write=False) as session:
        sku_pk = session.execute(sa.text("SELECT pk FROM sku WHERE sku = :s"), {"s": sku}).scalar_one()
        ancestors = 0
        for _ in range(repeat):
            started = time.perf_counter()
            assess_sku(session, sku, question)
            stored.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rows = session.execute(sa.text(RECURSIVE), {"sku": sku_pk}).all()
            hit = total = 0.0
            for origin, share in rows:  # the answer from the raw material the walk reached
                for routes in (json.loads(origin) if isinstance(origin, str) else origin).values():
                    for route in routes:
                        kg = eval_fraction(route[-1]) * share
                        total += kg
                        hit += kg if "CN" in route[:4] else 0.0
            assert total > 0
            walked.append((time.perf_counter() - started) * 1000)
            ancestors = len(rows)
    engine.dispose()
    return statistics.median(stored), statistics.median(walked), ancestors


def eval_fraction(text: str) -> float:
    numerator, _, denominator = text.partition("/")
    return int(numerator) / int(denominator or 1)


def ingest_single(base: str, seconds: float) -> float:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            body = {"type": "receipt", "facility": "PLANT", "occurred_at": "2025-06-01T00:00:00Z",
                    "outputs": [{"code": f"ONE-{count}", "material": "oxide", "quantity": "1", "unit": "kg",
                                 "composition": {"Nd": "0.5"}}]}  # fmt: skip
            client.post("/v1/events", json=body).raise_for_status()
            count += 1
        return count / (time.perf_counter() - started)


def ingest_raw_sql(db_url: str, rows: int) -> float:
    """The same lot rows inserted by hand into a copy of the lot table: the floor any ingest path pays."""
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS lot_raw AS SELECT * FROM lot WHERE 0"))
        sample = dict(connection.execute(sa.text("SELECT * FROM lot LIMIT 1")).mappings().one())
    values = [sample | {"pk": None, "id": f"raw-{i}", "code": f"RAW-{i}"} for i in range(rows)]
    columns = ", ".join(values[0])
    placeholders = ", ".join(f":{c}" for c in values[0])
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO lot_raw ({columns}) VALUES ({placeholders})"), values)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return rows / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["quick", "full"], default="quick")
    parser.add_argument("--lots", help="comma-separated lot counts (overrides --size)")
    parser.add_argument("--depths", default="3,12")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does this)")
    sizes = [int(n) for n in (args.lots or ("1000" if args.size == "quick" else "1000,100000,1000000")).split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    workers = os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="lodestone-bench-"))
    for lots in sizes:
        for depth in depths:
            db_url = f"sqlite:///{work}/bench-{lots}-{depth}.db"
            with server(db_url, workers, work / "server.log") as (base, process):
                loaded, bulk_rate, product = load_chain(base, lots, depth)
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
                    lot_id = client.get("/v1/lots", params={"code": product}).json()["items"][0]["id"]
                ceiling = wrk(f"{base}/healthz", args.seconds, args.connections)
                sku = wrk(f"{base}/v1/skus/SKU-0/origin", args.seconds, args.connections)
                lot = wrk(f"{base}/v1/lots/{lot_id}/origin", args.seconds, args.connections)
                single = ingest_single(base, 5)
                memory = peak_rss_mb(process)
            stored_ms, walked_ms, ancestors = time_in_process(db_url, "SKU-0", 20)
            raw_rate = ingest_raw_sql(db_url, 5000)
            rows.append({"lots": loaded, "depth": depth, "ceiling": ceiling, "sku": sku, "lot": lot,
                         "stored_ms": stored_ms, "walked_ms": walked_ms, "ancestors": ancestors,
                         "bulk": bulk_rate, "single": single, "raw": raw_rate, "memory": memory})  # fmt: skip
            print(f"lots={loaded} depth={depth}: sku {sku.requests_per_s:.0f}/s p50 {sku.p50_ms:.2f} ms, "
                  f"ceiling {ceiling.requests_per_s:.0f}/s, bulk {bulk_rate:.0f} lots/s", flush=True)  # fmt: skip
    write_report(Path(args.output), rows, args, workers)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def write_report(path: Path, rows: list[dict[str, Any]], args: argparse.Namespace, workers: int) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    base = rows[0]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `scripts/bench.py` (`make bench`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        "Do not edit by hand.",
        "",
        f"- Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite, "
        f"`lodestone serve --workers {workers}`.",
        f"- Load: `wrk -t2 -c{args.connections} -d{args.seconds}s` over loopback; every figure of a row comes from "
        "the same run, side by side.",
        f"- Chains: {FAN_IN} mine lots received and refined together, then blended down to a product of one of the "
        "SKUs; `depth` counts the events from raw material to product.",
        "",
        "| lots | depth | SKU answer req/s | p50 ms | p99 ms | lot answer req/s | p50 ms | p99 ms "
        "| ceiling req/s | SKU / ceiling | p50 vs first row |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['lots']} | {r['depth']} | {r['sku'].requests_per_s:.0f} | {r['sku'].p50_ms:.2f} | "
            f"{r['sku'].p99_ms:.2f} | {r['lot'].requests_per_s:.0f} | {r['lot'].p50_ms:.2f} | {r['lot'].p99_ms:.2f} | "
            f"{r['ceiling'].requests_per_s:.0f} | {r['sku'].requests_per_s / r['ceiling'].requests_per_s:.2f} | "
            f"{r['sku'].p50_ms / base['sku'].p50_ms:.2f}x |"
        )
    lines += [
        "",
        "## Stored origins against the hand-written alternative (in process, median of 20, same database)",
        "",
        "| lots | depth | ancestor lots walked | stored answer ms | recursive SQL ms | speed-up |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['lots']} | {r['depth']} | {r['ancestors']} | {r['stored_ms']:.2f} | {r['walked_ms']:.2f} | "
          f"{r['walked_ms'] / r['stored_ms']:.1f}x |" for r in rows],
        "",
        "## Ingest and memory",
        "",
        "| lots | depth | bulk lots/s | single-event POST events/s | raw SQL insert rows/s | bulk / raw | "
        "peak RSS per worker MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['lots']} | {r['depth']} | {r['bulk']:.0f} | {r['single']:.0f} | {r['raw']:.0f} | "
          f"{r['bulk'] / r['raw']:.3f} | {r['memory']:.0f} |" for r in rows],
        "",
    ]  # fmt: skip
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
