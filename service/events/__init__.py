"""Events: the only way material, and its origin, enters and moves through Lodestone."""

from service.events.record import get_event, record_batch, record_event, void_event

__all__ = ["get_event", "record_batch", "record_event", "void_event"]
