"""Median response time of one SKU answer against a running server (``make run`` first).

.venv/bin/python scripts/sku_latency.py --url http://127.0.0.1:8000 --sku EV-MOTOR-200 -n 500
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--sku", default="EV-MOTOR-200")
    parser.add_argument("-n", type=int, default=500, help="requests, after 20 warm-up requests")
    parser.add_argument("--key", help="API key (default: `lodestone key`)")
    args = parser.parse_args()
    key = (
        args.key
        or subprocess.run(
            [str(Path(sys.executable).parent / "lodestone"), "key"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    url = f"{args.url}/v1/skus/{args.sku}/origin"
    timings: list[float] = []
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as client:
        for i in range(args.n + 20):
            start = time.perf_counter()
            response = client.get(url, params={"countries": "CN"})
            elapsed = time.perf_counter() - start
            response.raise_for_status()
            if i >= 20:
                timings.append(elapsed * 1000)
    timings.sort()
    print(
        f"{args.sku}: n={len(timings)} median={statistics.median(timings):.2f} ms "
        f"p90={timings[int(0.9 * len(timings))]:.2f} ms min={timings[0]:.2f} ms "
        f"answer={response.json()['answer']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
