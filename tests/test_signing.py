"""Signed attestations' keys: sign and verify, the JWKS, rotation, revocation, and the CLI, on real databases."""

import base64
import hashlib
import json
import multiprocessing
import os
import subprocess
import threading
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from joserfc import jws as joserfc_jws
from joserfc.errors import InvalidKeyIdError, SecurityWarning
from joserfc.jwk import KeySet, OctKey, OKPKey

from service.app import create_app
from service.config import Settings
from service.db import create_db_engine, transaction
from service.errors import Unavailable
from service.models import SigningKey
from service.signing import (
    Signer,
    SigningKeyError,
    VerificationError,
    ensure_key_file,
    jwks,
    kid_of,
    load_signer,
    register,
    revoke,
    verify,
)
from tests.servers import BIN, lodestone_env, running_server

JWKS_PATH = "/.well-known/jwks.json"
PAYLOAD: dict[str, Any] = {
    "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
    "issued_at": "2026-12-01T04:30:00Z",
    "as_of": "2026-12-01T04:29:59Z",
    "answer": {"answer": "yes", "share_percent": "2.436961", "explanation": "Dy separated in China — 2.4 %"},
    "rules": None,
    "lots": [1, 2, 3],
}


def b64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_raw(header: dict[str, Any], body: bytes, key: Any) -> str:
    """A JWS made with joserfc directly, as a forger or another service would."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc's note that RFC 9864 prefers "Ed25519"
        return joserfc_jws.serialize_compact(header, body, key, algorithms=[header["alg"]])


def published(signer: Signer) -> dict[str, Any]:
    return {"keys": [dict(signer.public_jwk)]}


def signed_by(settings: Settings) -> Signer:
    signer = load_signer(settings)
    assert signer is not None
    return signer


def register_in(settings: Settings, signer: Signer) -> None:
    engine = create_db_engine(settings)
    try:
        with transaction(engine, write=True) as session:
            register(session, signer)
    finally:
        engine.dispose()


def lodestone(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = lodestone_env(settings.database_url) | {"LODESTONE_SIGNING_KEY": str(settings.signing_key)}
    env = {k: v for k, v in env.items() if "proxy" not in k.lower()}  # the JWKS URL is on loopback
    return subprocess.run(
        [str(BIN / "lodestone"), *args], env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )


def public_jwks(client: TestClient) -> dict[str, Any]:
    response = client.get(JWKS_PATH)
    assert response.status_code == 200, response.text
    keys: dict[str, Any] = response.json()
    return keys


# --- signing and verifying, no database --------------------------------------------------------------


def test_signature_round_trip_with_the_documented_header_and_payload(tmp_path: Path) -> None:
    signer = ensure_key_file(tmp_path / "signing-key.pem")
    token = signer.sign(PAYLOAD)
    header, payload, _signature = token.split(".")
    assert b64json(header) == {"alg": "EdDSA", "kid": signer.kid, "typ": "JOSE"}
    # The payload is the answer's compact UTF-8 JSON, in its own key order.
    assert base64.urlsafe_b64decode(payload + "==").decode() == json.dumps(
        PAYLOAD, ensure_ascii=False, separators=(",", ":")
    )
    assert verify(token, published(signer)) == PAYLOAD
    assert kid_of(token) == signer.kid
    # An answer with hundreds of lots is far past joserfc's default 128 kB payload limit.
    large = PAYLOAD | {"lots": [{"id": f"lot-{n}", "share": "1.5"} for n in range(20_000)]}
    assert verify(signer.sign(large), published(signer)) == large


def test_kid_is_the_rfc_7638_thumbprint_and_the_jwk_is_public(tmp_path: Path) -> None:
    signer = ensure_key_file(tmp_path / "signing-key.pem")
    jwk = dict(signer.public_jwk)
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"))
    assert signer.kid == b64(hashlib.sha256(canonical.encode()).digest())
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": signer.kid, "alg": "EdDSA", "use": "sig"}
    assert "d" not in jwk
    pem = (tmp_path / "signing-key.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS #8
    assert oct((tmp_path / "signing-key.pem").stat().st_mode & 0o777) == "0o600"


def test_a_tampered_payload_or_signature_is_refused(tmp_path: Path) -> None:
    signer = ensure_key_file(tmp_path / "signing-key.pem")
    header, _payload, signature = signer.sign(PAYLOAD).split(".")
    changed = PAYLOAD | {"answer": PAYLOAD["answer"] | {"answer": "no"}}
    forged = ".".join([header, b64(json.dumps(changed, separators=(",", ":")).encode()), signature])
    with pytest.raises(VerificationError, match="bad signature"):
        verify(forged, published(signer))
    token = signer.sign(PAYLOAD)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(VerificationError, match="bad signature"):
        verify(flipped, published(signer))


def test_another_key_under_the_same_kid_is_refused(tmp_path: Path) -> None:
    signer = ensure_key_file(tmp_path / "signing-key.pem")
    other = ensure_key_file(tmp_path / "other.pem")
    assert other.kid != signer.kid
    impostor = Signer(key=other.key, kid=signer.kid, public_jwk=signer.public_jwk)
    token = impostor.sign(PAYLOAD)
    assert kid_of(token) == signer.kid
    with pytest.raises(VerificationError, match=f"bad signature: not signed by key {signer.kid}"):
        verify(token, published(signer))
    # And the other key's own JWK, published under the kid, verifies only what that key signed.
    with pytest.raises(VerificationError, match="bad signature"):
        verify(signer.sign(PAYLOAD), {"keys": [dict(other.public_jwk) | {"kid": signer.kid}]})


def test_refusals_say_why(tmp_path: Path) -> None:
    signer = ensure_key_file(tmp_path / "signing-key.pem")
    keys = published(signer)
    for malformed in ("", "not a jws", "a.b", "a.b.c.d", "é.b.c", signer.sign(PAYLOAD).replace(".", "", 1)):
        with pytest.raises(VerificationError, match="malformed"):
            verify(malformed, keys)
    hmac = signed_raw({"alg": "HS256", "kid": signer.kid}, b"{}", OctKey.import_key(b"0123456789abcdef" * 2))
    with pytest.raises(VerificationError, match="wrong algorithm 'HS256'"):
        verify(hmac, keys)
    unsigned = ".".join([b64(b'{"alg":"none","kid":"' + signer.kid.encode() + b'"}'), b64(b"{}"), ""])
    with pytest.raises(VerificationError, match="wrong algorithm 'none'"):
        verify(unsigned, keys)
    no_kid = signed_raw({"alg": "EdDSA"}, b"{}", signer.key)
    with pytest.raises(VerificationError, match="names no key"):
        verify(no_kid, keys)
    with pytest.raises(VerificationError, match=f"unknown key {signer.kid}"):
        verify(signer.sign(PAYLOAD), {"keys": []})
    for body in (b"[1, 2]", b"not json"):
        with pytest.raises(VerificationError, match="payload is not"):
            verify(signed_raw({"alg": "EdDSA", "kid": signer.kid}, body, signer.key), keys)


def test_where_the_key_file_is() -> None:
    assert Settings(database_url="sqlite:///data/x.db").resolved_signing_key_file() == Path("data/signing-key.pem")
    with_key_file = Settings(database_url="sqlite:///data/x.db", key_file=Path("/run/keys/admin.key"))
    assert with_key_file.resolved_signing_key_file() == Path("/run/keys/signing-key.pem")
    configured = Settings(database_url="sqlite:///data/x.db", signing_key=Path("/etc/lodestone/sign.pem"))
    assert configured.resolved_signing_key_file() == Path("/etc/lodestone/sign.pem")
    postgres = Settings(database_url="postgresql+psycopg://u:p@db/lodestone")
    assert postgres.resolved_signing_key_file() is None
    assert load_signer(postgres) is None
    assert Settings(database_url="sqlite:///:memory:").resolved_signing_key_file() is None


def test_a_configured_key_that_is_missing_or_not_ed25519_stops_the_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/lodestone.db"
    missing = tmp_path / "missing.pem"
    with pytest.raises(SigningKeyError, match=f"signing key {missing}: no such file"):
        create_app(Settings(database_url=url, signing_key=missing))
    assert not missing.exists()  # a configured key is never generated
    public = tmp_path / "public.pem"
    public.write_bytes(OKPKey.generate_key("Ed25519").as_pem(private=False))
    x25519 = tmp_path / "x25519.pem"
    x25519.write_bytes(OKPKey.generate_key("X25519").as_pem(private=True))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    for bad in (public, x25519, garbage):
        with pytest.raises(SigningKeyError, match="not an Ed25519 private key in PEM"):
            create_app(Settings(database_url=url, signing_key=bad))
    settings = Settings(database_url=url, admin_key="k", signing_key=missing)
    result = lodestone(settings, "serve", "--port", "1")
    assert result.returncode == 2
    assert f"error: signing key {missing}: no such file" in result.stderr


def _race_for_the_key(database_url: str, start: Any, kids: Any) -> None:
    start.wait()
    signer = load_signer(Settings(database_url=database_url))
    assert signer is not None
    kids.put(signer.kid)


def test_workers_starting_at_once_end_with_one_key(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/data/lodestone.db"
    (tmp_path / "data").mkdir()
    context = multiprocessing.get_context("spawn")
    workers = 8
    start, kids = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_race_for_the_key, args=(database_url, start, kids)) for _ in range(workers)]
    for process in processes:
        process.start()
    found = {kids.get(timeout=120) for _ in processes}
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    key_file = tmp_path / "data" / "signing-key.pem"
    assert found == {ensure_key_file(key_file).kid}
    assert sorted(os.listdir(tmp_path / "data")) == ["signing-key.pem"]  # no temporary file left behind


# --- the database: registering, the JWKS, revoking ------------------------------------------------------


def test_jwks_needs_no_api_key_and_lists_the_current_key_before_it_signs(client: TestClient) -> None:
    client.headers.pop("Authorization")
    response = client.get(JWKS_PATH)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    signer: Signer = client.app.state.signer  # type: ignore[attr-defined]
    assert response.json() == published(signer)
    assert verify(signer.sign(PAYLOAD), response.json()) == PAYLOAD


def test_register_adds_one_row_however_many_register_at_once(settings: Settings) -> None:
    signer = signed_by(settings)
    engine = create_db_engine(settings)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def register_once() -> None:
        try:
            start.wait()
            with transaction(engine, write=True) as session:
                register(session, signer)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with transaction(engine, write=False) as session:
        rows = session.exec(sa.select(SigningKey.kid, SigningKey.public_jwk)).all()  # type: ignore[call-overload]
        assert [tuple(row) for row in rows] == [(signer.kid, dict(signer.public_jwk))]
        assert jwks(session, signer) == published(signer)
    engine.dispose()


def test_a_revoked_key_leaves_the_jwks_stops_verifying_and_cannot_sign(settings: Settings, client: TestClient) -> None:
    signer = signed_by(settings)
    register_in(settings, signer)
    token = signer.sign(PAYLOAD)
    assert verify(token, public_jwks(client)) == PAYLOAD

    unknown = lodestone(settings, "signing-key", "revoke", "no-such-kid")
    assert unknown.returncode == 2
    assert "No signing key no-such-kid" in unknown.stderr
    result = lodestone(settings, "signing-key", "revoke", signer.kid)
    assert result.returncode == 0, result.stderr
    assert f"key {signer.kid} revoked at" in result.stdout
    assert "it is the configured signing key" in result.stdout

    assert public_jwks(client) == {"keys": []}
    with pytest.raises(VerificationError, match=f"unknown key {signer.kid}"):
        verify(token, public_jwks(client))
    with pytest.raises(Unavailable, match=f"signing key {signer.kid} was revoked") as refused:
        register_in(settings, signer)
    assert refused.value.status == 503
    audited = client.get("/v1/audit").json()["items"]
    assert [(e["action"], e["subject"]) for e in audited] == [("signing_key.revoked", signer.kid)]


def test_the_current_key_can_be_revoked_before_it_ever_signed(settings: Settings) -> None:
    signer = signed_by(settings)
    engine = create_db_engine(settings)
    with transaction(engine, write=True) as session:
        assert revoke(session, signer.kid, signer).revoked_at is not None
    with transaction(engine, write=False) as session:
        assert jwks(session, signer) == {"keys": []}
    engine.dispose()


def test_rotation_keeps_what_the_old_key_signed_verifiable(settings: Settings, client: TestClient) -> None:
    old = signed_by(settings)
    register_in(settings, old)
    before = old.sign(PAYLOAD)

    result = lodestone(settings, "signing-key", "rotate")
    assert result.returncode == 0, result.stderr
    new = signed_by(settings)
    assert new.kid != old.kid
    assert f"retired key {old.kid}" in result.stdout
    assert f"new key {new.kid}" in result.stdout
    assert "after a restart" in result.stdout
    assert settings.signing_key is not None
    retired = settings.signing_key.with_name(f"signing-key.pem.{old.kid}.retired")
    assert ensure_key_file(retired).kid == old.kid
    assert oct(retired.stat().st_mode & 0o777) == "0o600"

    # The running app still holds the old key until a restart; its JWKS lists both, newest first.
    keys = public_jwks(client)
    assert [key["kid"] for key in keys["keys"]] == [new.kid, old.kid]
    assert verify(before, keys) == PAYLOAD
    assert verify(new.sign(PAYLOAD), keys) == PAYLOAD
    restarted = create_app(settings)
    assert restarted.state.signer.kid == new.kid
    restarted.state.engine.dispose()

    listed = lodestone(settings, "signing-key", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(row[0], row[2]) for row in rows] == [(new.kid, "-"), (old.kid, "-")]
    shown = lodestone(settings, "signing-key", "show")
    assert shown.stdout.splitlines()[0] == f"kid: {new.kid}"
    assert json.loads(shown.stdout.split("\n", 1)[1]) == dict(new.public_jwk)


# --- `lodestone attestation verify` ----------------------------------------------------------------------


def test_cli_verifies_with_a_jwks_file_or_the_database(settings: Settings, tmp_path: Path) -> None:
    signer = signed_by(settings)
    token = signer.sign(PAYLOAD)
    body = tmp_path / "attestation.json"
    body.write_text(json.dumps({"id": "0b7d3e0c", "issued_at": PAYLOAD["issued_at"], "kid": signer.kid, "jws": token}))
    bare = tmp_path / "attestation.jws"
    bare.write_text(token + "\n")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(published(signer)))

    ways: list[tuple[tuple[str, ...], str | None]] = [
        ((str(body), "--jwks", str(keys)), None),
        (("-", "--jwks", str(keys)), token),
    ]
    for args, stdin in ways:
        result = lodestone(settings, "attestation", "verify", *args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[:5] == [
            f"verified: signed by key {signer.kid}",
            'subject: {"kind": "sku", "sku": "EV-MOTOR-200"}',
            f"issued_at: {PAYLOAD['issued_at']}",
            f"as_of: {PAYLOAD['as_of']}",
            "answer:",
        ]
        assert json.loads("\n".join(lines[5:])) == PAYLOAD["answer"]

    # Without --jwks: the database's keys, which hold the key once it has signed there (registered).
    unregistered = lodestone(settings, "attestation", "verify", str(bare))
    assert unregistered.returncode == 1
    assert (
        unregistered.stderr
        == f"not verified: unknown key {signer.kid}: not in the JWKS (never published, or revoked)\n"
    )
    register_in(settings, signer)
    result = lodestone(settings, "attestation", "verify", str(bare))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"verified: signed by key {signer.kid}\n")

    header, _payload, signature = token.split(".")
    bare.write_text(".".join([header, b64(b'{"answer":"no"}'), signature]))
    tampered = lodestone(settings, "attestation", "verify", str(bare), "--jwks", str(keys))
    assert tampered.returncode == 1
    assert tampered.stdout == ""
    assert tampered.stderr.startswith("not verified: bad signature")
    failures: list[tuple[tuple[str, ...], str]] = [
        ((str(tmp_path / "nothing.jws"),), "cannot read"),
        ((str(keys), "--jwks", str(keys)), "JSON without a `jws` string"),
        ((str(body), "--jwks", str(body)), "has no `keys` list"),
    ]
    for args, why in failures:
        result = lodestone(settings, "attestation", "verify", *args)
        assert result.returncode == 1
        assert result.stderr.startswith("not verified: ")
        assert why in result.stderr


def verify_as_the_readme_shows(jwks_url: str, attestation: dict[str, Any]) -> dict[str, Any]:
    """The few lines the README gives an auditor (signed attestations), joserfc alone: keep the two alike."""
    registry = joserfc_jws.JWSRegistry(algorithms=["EdDSA"])
    registry.max_payload_length = 64 * 1024 * 1024  # joserfc's default is 128 kB; an answer can be larger
    with urllib.request.urlopen(jwks_url) as response:
        keys = KeySet.import_key_set(json.load(response))
    signed = joserfc_jws.deserialize_compact(attestation["jws"], keys, registry=registry)
    answer: dict[str, Any] = json.loads(signed.payload)
    return answer


def test_cli_and_joserfc_verify_with_the_jwks_url_of_a_running_server(settings: Settings, tmp_path: Path) -> None:
    signer = signed_by(settings)
    register_in(settings, signer)
    token = signer.sign(PAYLOAD)
    revoked = ensure_key_file(tmp_path / "revoked.pem")
    register_in(settings, revoked)
    engine = create_db_engine(settings)
    with transaction(engine, write=True) as session:
        revoke(session, revoked.kid)
    engine.dispose()
    with running_server(settings.database_url, tmp_path, workers=1) as server:
        url = f"{server.base_url}{JWKS_PATH}"
        result = lodestone(settings, "attestation", "verify", "-", "--jwks", url, stdin=json.dumps({"jws": token}))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"verified: signed by key {signer.kid}\n")
        refused = lodestone(settings, "attestation", "verify", "-", "--jwks", url, stdin=revoked.sign(PAYLOAD))
        assert (refused.returncode, refused.stderr) == (
            1,
            f"not verified: unknown key {revoked.kid}: not in the JWKS (never published, or revoked)\n",
        )
        gone = lodestone(settings, "attestation", "verify", "-", "--jwks", f"{server.base_url}/nope", stdin=token)
        assert (gone.returncode, gone.stderr) == (
            1,
            f"not verified: cannot fetch the JWKS from {server.base_url}/nope: HTTP 404\n",
        )

        # joserfc warns that RFC 9864 prefers "Ed25519" to "EdDSA"; the signature is no weaker for it.
        with pytest.warns(SecurityWarning, match="EdDSA"):
            answer = verify_as_the_readme_shows(url, {"jws": token})
        assert answer == PAYLOAD
        with pytest.raises(InvalidKeyIdError, match=revoked.kid), pytest.warns(SecurityWarning):
            verify_as_the_readme_shows(url, {"jws": revoked.sign(PAYLOAD)})
