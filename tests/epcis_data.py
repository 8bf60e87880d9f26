"""The third-party EPCIS reference and test data beside the repository, read only by tests.

GS1's schema and examples, OpenEPCIS's capture documents and the hash generator's vectors are not
ours to copy into the repository (their README says so). A test that needs them skips where the
folder is absent (a clone with nothing beside it) and fails instead in CI, where it must be.
"""

import os
from pathlib import Path

import pytest

SHARED_EPCIS = Path(__file__).resolve().parent.parent.parent / "shared" / "epcis"


def shared_epcis() -> Path:
    """The folder, or a skip (a failure under ``CI``) naming what is missing."""
    if not (SHARED_EPCIS / "epcis-json-schema-2.0.1.json").is_file():
        message = f"the EPCIS reference data is not beside the repository ({SHARED_EPCIS})"
        if os.environ.get("CI"):
            pytest.fail(message + ", and CI must have it")
        pytest.skip(message)
    return SHARED_EPCIS
