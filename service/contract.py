"""The contract this service implements: its documents, shipped in ``docs/contract``, and what is not built yet.

``docs/contract`` is a byte-for-byte copy of one version of the contract, replaced whole when the
contract changes. It sits beside the package, as ``alembic/`` does, so it is found in a source
checkout and in the editable install that ``make run`` and the Dockerfile make.
"""

from dataclasses import dataclass
from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "docs" / "contract"
CONTRACT_VERSION = "1.1"

# What the contract asks for that this version of the service does not do yet: every contract page served
# at /contract/ lists these at its top. Add an entry when a new contract version lands, delete it when built.
NOT_IMPLEMENTED: tuple[str, ...] = ()


@dataclass(frozen=True)
class Document:
    name: str  # its path in docs/contract, which is also its URL under /contract/
    summary: str

    @property
    def path(self) -> Path:
        return CONTRACT_DIR / self.name

    @property
    def is_markdown(self) -> bool:
        return self.name.endswith(".md")


DOCUMENTS = (
    Document("API.md", "The REST contract: paths, fields, status codes, credentials."),
    Document("ORIGIN.md", "Origin semantics: what each event does to origin, the order of checks, the questions."),
    Document("RULES.md", "Compliance rules: rules with dates, prices, and the compliance answers."),
    Document("rules.json", "The built-in rules of RULES.md, as JSON."),
    Document("vectors/README.md", "The worked examples: how each vector file is replayed through the API."),
)
DOCUMENTS_BY_NAME = {document.name: document for document in DOCUMENTS}
