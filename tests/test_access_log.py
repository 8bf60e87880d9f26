"""``lodestone serve`` logs each request once (``LODESTONE_ACCESS_LOG=all``): the app's JSON line, not uvicorn's
access line too."""

import json
import re
from pathlib import Path

from tests.servers import running_server

REQUESTS = 30
# uvicorn's access line: `INFO:     127.0.0.1:53312 - "GET /healthz HTTP/1.1" 200 OK`
UVICORN_ACCESS = re.compile(r'- "[A-Z]+ \S+ HTTP/[0-9.]+" \d{3}')


def test_each_request_is_one_json_line(tmp_path: Path) -> None:
    ids = [f"access-log-{n}" for n in range(REQUESTS)]
    paths = ["/healthz", "/v1/lots", "/nowhere"]  # 200, 401 without a key, 404
    database = f"sqlite:///{tmp_path / 'lodestone.db'}"
    with running_server(database, tmp_path, workers=2, access_log="all") as server:
        with server.client() as client:
            for n, request_id in enumerate(ids):
                client.get(paths[n % 3], headers={"X-Request-ID": request_id, "Authorization": ""})
        port = server.base_url.rsplit(":", 1)[1]
    lines = server.log.read_text().splitlines()

    entries = [json.loads(line) for line in lines if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "lodestone.access"]
    ours = [e for e in access if e["request_id"].startswith("access-log-")]
    assert len(ours) == REQUESTS
    assert {e["request_id"]: e["status"] for e in ours} == {i: (200, 401, 404)[n % 3] for n, i in enumerate(ids)}
    assert {e["path"] for e in access if e not in ours} <= {"/readyz"}  # the wait for the server
    assert [line for line in lines if UVICORN_ACCESS.search(line)] == []
    # uvicorn's own lines stay: where it listens, each worker's start, the shutdown.
    text = "\n".join(lines)
    assert f"Uvicorn running on http://127.0.0.1:{port}" in text, text
    assert text.count("Application startup complete.") == 2, text
    assert text.count("Finished server process") == 2, text
