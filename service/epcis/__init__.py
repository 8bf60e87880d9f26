"""GS1 EPCIS 2.0: capture supply-chain events as Lodestone events, and export Lodestone's as EPCIS.

The design is the mapping note (``shared/epcis/MAPPING.md`` beside the repository); its decisions
are summed up where each is implemented.
"""

# The extension namespace of every Lodestone key in an EPCIS document. Part of every exported event
# and of its hash: a constant, never a setting, so that two Lodestone instances read each other.
NAMESPACE = "urn:lodestone:epcis:1:"
PREFIX = "lodestone"
GS1_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CONTEXT: list[object] = [GS1_CONTEXT, {PREFIX: NAMESPACE}]

# UN/ECE Recommendation 20 codes of Lodestone's units. Pieces are written without a uom (EPCIS then counts
# instances of the class) and read from none or a piece code.
UOM = {"kg": "KGM", "t": "TNE", "g": "GRM"}
UNITS = {code: unit for unit, code in UOM.items()} | {"H87": "pcs", "C62": "pcs", "EA": "pcs"}


def cbv_word(value: object, vocabulary: str) -> str | None:
    """``receiving`` from ``receiving``, ``https://ref.gs1.org/cbv/BizStep-receiving`` or the URN form."""
    if not isinstance(value, str):
        return None
    for prefix in (f"https://ref.gs1.org/cbv/{vocabulary}-", f"urn:epcglobal:cbv:{vocabulary.lower()}:"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value
