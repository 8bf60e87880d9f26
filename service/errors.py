"""Domain errors. They know their HTTP status but nothing else of HTTP; one handler renders them."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class LodestoneError(Exception):
    """Base of every refusal; ``detail`` is a sentence a client can act on."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)

    status = 500
    title = "Internal error"
    slug = "internal"

    def __str__(self) -> str:
        return self.detail

    def at(self, prefix: str) -> "LodestoneError":
        """The same refusal, located inside a larger body (``events.3`` of a batch)."""
        return type(self)(
            f"{prefix}: {self.detail}", [FieldError(f"{prefix}.{e.field}", e.message) for e in self.errors]
        )


class BadRequest(LodestoneError):
    status = 400
    title = "Unreadable request"
    slug = "bad-request"


class Unauthorized(LodestoneError):
    status = 401
    title = "Missing or bad credentials"
    slug = "unauthorized"


class Forbidden(LodestoneError):
    status = 403
    title = "Not allowed"
    slug = "forbidden"


class NotFound(LodestoneError):
    status = 404
    title = "Not found"
    slug = "not-found"


class NotAcceptable(LodestoneError):
    status = 406
    title = "Not acceptable"
    slug = "not-acceptable"


class Conflict(LodestoneError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(LodestoneError):
    status = 413
    title = "Request body too large"
    slug = "payload-too-large"


class Unavailable(LodestoneError):
    status = 503
    title = "Service unavailable"
    slug = "unavailable"


class Invalid(LodestoneError):
    status = 422
    title = "Invalid request"
    slug = "invalid"


def invalid(field_name: str, message: str) -> Invalid:
    """A 422 naming one field, e.g. ``outputs.0.quantity``."""
    return Invalid(f"{field_name}: {message}", [FieldError(field_name, message)])


class SchemaInvalid(Invalid):
    """An EPCIS document the EPCIS 2.0.1 JSON schema refuses (GS1 would say 400 ValidationException)."""

    title = "Not a valid EPCIS 2.0 document"
    slug = "epcis-schema"


class NotMappable(Invalid):
    """A valid EPCIS event that Lodestone cannot record: an unsupported type, a missing facility or composition."""

    title = "EPCIS event Lodestone cannot record"
    slug = "epcis-not-mappable"


class UnsupportedMediaType(LodestoneError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"
