"""A body over the limit gets its 413 from a real ``lodestone serve``, never a connection reset.

urllib sends ``Connection: close`` and reads nothing until its body is sent: a server that
closes the socket with the rest of the body unread makes the kernel reset it under the client.
"""

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest

from service.api.problems import DISCARD_BYTES
from tests.conftest import ADMIN_KEY
from tests.servers import Server, running_server

TRIES = 50
BODY = b'{"type": "extraction", "facility": "MINE"}' + b" " * 2_500_000
CHUNK = 64 * 1024
REFUSED = "413 application/problem+json urn:lodestone:problem:payload-too-large"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The body is refused before any database work: one SQLite server serves the whole module.
    directory = tmp_path_factory.mktemp("body-limit")
    with running_server(f"sqlite:///{directory / 'lodestone.db'}", directory, workers=1) as server:
        yield server


def chunks() -> Iterator[bytes]:
    for start in range(0, len(BODY), CHUNK):
        yield BODY[start : start + CHUNK]


def urllib_post(server: Server, chunked: bool) -> str:
    """What urllib got: the status, media type and problem type, or the error that replaced them."""
    # An iterable without a Content-Length is sent chunked.
    data = chunks() if chunked else BODY
    request = urllib.request.Request(f"{server.base_url}/v1/events", data=data, method="POST", headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(response.status)
    except urllib.error.HTTPError as answer:
        return f"{answer.code} {answer.headers['Content-Type']} {json.loads(answer.read())['type']}"
    except urllib.error.URLError as failure:
        return type(failure.reason).__name__
    except OSError as failure:
        return type(failure).__name__


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_urllib_gets_the_413_every_time(server: Server, chunked: bool) -> None:
    outcomes = Counter(urllib_post(server, chunked) for _ in range(TRIES))
    assert outcomes == {REFUSED: TRIES}


def raw_exchange(server: Server, head: str, body: bytes = b"") -> tuple[bytes, bytes]:
    """Send a request on a bare socket and read to the end: (status line and headers, the rest)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        received = b""
        while chunk := sock.recv(65536):  # a reset raises ConnectionResetError here
            received += chunk
    answer_head, _, rest = received.partition(b"\r\n\r\n")
    return answer_head.lower(), rest


def request_head(length: int, *extra: str, connection: str = "close") -> str:
    lines = [
        "POST /v1/events HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {ADMIN_KEY}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        f"Connection: {connection}",
        *extra,
    ]
    return "".join(f"{line}\r\n" for line in lines)


def test_connection_close_ends_with_the_413_and_a_clean_close(server: Server) -> None:
    for _ in range(10):
        head, rest = raw_exchange(server, request_head(len(BODY)), BODY)
        assert head.startswith(b"http/1.1 413 "), head
        assert json.loads(rest)["status"] == 413


def test_a_kept_alive_connection_serves_the_next_request(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]), timeout=30)
    try:
        connection.request("POST", "/v1/events", body=BODY, headers=HEADERS)
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 413
        assert refused.getheader("Connection") is None
        assert connection.sock is not None
        local = connection.sock.getsockname()
        connection.request("GET", "/healthz")
        after = connection.getresponse()
        after.read()
        assert after.status == 200
        assert connection.sock is not None
        assert connection.sock.getsockname() == local
    finally:
        connection.close()


def test_a_streamed_body_gets_the_413_and_the_connection_is_reused(server: Server) -> None:
    with server.client() as client:
        refused = client.post("/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
        assert refused.status_code == 413
        assert refused.headers["Content-Type"] == "application/problem+json"
        after = client.get("/healthz")
        assert after.status_code == 200
        local = refused.extensions["network_stream"].get_extra_info("client_addr")
        assert after.extensions["network_stream"].get_extra_info("client_addr") == local


def test_a_body_past_the_discard_bound_is_refused_at_once(server: Server) -> None:
    # Only the head is sent: waiting for the body, or keeping the connection, would time out.
    head, rest = raw_exchange(server, request_head(DISCARD_BYTES + 1, connection="keep-alive"))
    assert head.startswith(b"http/1.1 413 "), head
    assert b"\r\nconnection: close" in head
    assert json.loads(rest)["status"] == 413


def test_a_client_expecting_100_continue_is_refused_before_sending(server: Server) -> None:
    head, rest = raw_exchange(server, request_head(len(BODY), "Expect: 100-continue", connection="keep-alive"))
    assert head.startswith(b"http/1.1 413 "), head
    assert b"\r\nconnection: close" in head
    assert json.loads(rest)["status"] == 413


def test_a_body_within_the_limit_is_still_read(server: Server) -> None:
    body = json.dumps({"code": "SMALL", "name": "Small", "country": "AU"}).encode()
    head, rest = raw_exchange(server, request_head(len(body)).replace("/v1/events", "/v1/organizations"), body)
    assert head.startswith(b"http/1.1 201 "), head
    assert json.loads(rest)["code"] == "SMALL"
