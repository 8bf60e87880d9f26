"""Lodestone: where the rare earths in a lot, and in a SKU, come from."""

__version__ = "0.1.0"
