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
