"""EPCIS capture jobs as the GS1 REST binding shapes them, with what each event became in Lodestone."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class CapturedEvent(BaseModel):
    """One EPCIS event of a captured document, in document order."""

    eventID: str = Field(description="The sender's eventID, or its CBV 2.0 event hash when it had none.")
    event: str | None = Field(description="The Lodestone event it became or voided (none: nothing to record).")
    created: bool = Field(description="False when the service already held it (a re-capture records nothing).")
    action: Literal["recorded", "voided", "none"] = Field(
        "recorded", description="`recorded` a Lodestone event, `voided` one (error declaration), or `none`."
    )


class CaptureRead(BaseModel):
    """A finished capture job: capture runs at once, all or nothing, so a job is never running nor failed."""

    captureID: str
    createdAt: datetime
    finishedAt: datetime
    running: bool
    success: bool
    captureErrorBehaviour: Literal["rollback"]
    errors: list[str]
    events: list[CapturedEvent]
