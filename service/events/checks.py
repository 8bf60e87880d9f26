"""Checking an event in ORIGIN.md's order: shape, references, stage and material, conflicts.

Each check raises before anything is written, so a refused event records nothing.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from sqlmodel import Session, col, select

from service import origin as engine
from service.access import OPERATOR, Principal
from service.errors import Conflict, invalid
from service.events.lookups import Lookups
from service.lots import LotRow, Value
from service.models import Facility, Lot, Sku
from service.numbers import format_decimal
from service.schemas import EventCreate, InputCreate, OutputCreate

KG_PER_UNIT: dict[str, Fraction] = {"kg": Fraction(1), "t": Fraction(1000), "g": Fraction(1, 1000)}
SKU_MATERIALS = frozenset({"magnet", "component", "product"})  # API.md 1.1: magnet makers sell by SKU too
EXTRACTED_MATERIALS = frozenset({"ore", "concentrate"})
EVENT_NAMES = {
    "extraction": "an extraction",
    "receipt": "a receipt",
    "processing": "a processing event",
    "transfer": "a transfer",
}


@dataclass
class PlannedOutput:
    """One output lot as it will be written, filled in check by check."""

    index: int
    code: str
    material: str | None
    quantity: Decimal | None
    unit: str | None
    composition: engine.Composition | None
    declared: list[tuple[dict[str, str], Fraction]] = field(default_factory=list)
    shares: dict[engine.Route, Fraction] | None = None  # of the declared origin, once checked
    sku: Sku | None = None
    facility: Facility | None = None
    origin: engine.Origin = field(default_factory=dict)
    element_resolved: bool = True
    value: Value | None = None  # given, or inherited by a transfer's output

    @property
    def where(self) -> str:
        return f"outputs.{self.index}"


@dataclass
class PlannedInput:
    index: int
    quantity: Decimal
    lot: LotRow


# 1. Shape and values --------------------------------------------------------------------------


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


def _check_quantity(value: Decimal, unit: str | None, where: str) -> None:
    if value <= 0:
        raise invalid(where, "must be positive")
    if unit == "pcs" and not _is_whole(value):
        raise invalid(where, "pieces are whole: a quantity in pcs must be a whole number")


def _check_composition(out: OutputCreate, where: str) -> engine.Composition | None:
    if out.composition is None:
        return None
    for symbol, kg in out.composition.items():
        if symbol not in engine.SYMBOLS:
            raise invalid(f"{where}.composition.{symbol}", "is not a rare-earth element symbol or REE")
        if kg < 0:
            raise invalid(f"{where}.composition.{symbol}", "must not be negative")
    composition = engine.clean_composition({s: Fraction(kg) for s, kg in out.composition.items()})
    check_weight(composition, out.quantity, out.unit, f"{where}.composition")
    return composition


def check_weight(composition: engine.Composition, quantity: Decimal | None, unit: str | None, where: str) -> None:
    if quantity is None or unit not in KG_PER_UNIT:
        return
    lot_kg = Fraction(quantity) * KG_PER_UNIT[unit]
    if engine.total(composition) > lot_kg:
        raise invalid(where, f"the composition weighs more than the lot ({format_decimal(quantity)} {unit})")


def _check_input(index: int, item: InputCreate, seen: set[object]) -> None:
    where = f"inputs.{index}"
    if item.lot is None and (item.lot_code is None or item.organization is None):
        raise invalid(where, "name the lot by `lot` (its id) or by `lot_code` and `organization`")
    if item.lot is not None and (item.lot_code is not None or item.organization is not None):
        raise invalid(where, "name the lot either by `lot` or by `lot_code` and `organization`, not both")
    _check_quantity(item.quantity, None, f"{where}.quantity")
    key = item.lot or (item.lot_code, item.organization)
    if key in seen:
        raise invalid(where, "a lot appears twice among the inputs")
    seen.add(key)


def _check_output(body: EventCreate, index: int, out: OutputCreate) -> PlannedOutput:
    where = f"outputs.{index}"
    kind = body.type
    if out.declared_origin is not None and kind != "receipt":
        raise invalid(f"{where}.declared_origin", "only receipts take a declared origin")
    if out.facility is not None and kind != "transfer":
        raise invalid(f"{where}.facility", "only transfers name a receiving facility on an output")
    if kind == "transfer":
        if out.facility is None:
            raise invalid(f"{where}.facility", "a transfer names the receiving facility")
        if out.facility == body.facility:
            raise invalid(f"{where}.facility", "a transfer goes to another facility")
        if out.composition is not None:
            raise invalid(f"{where}.composition", "a transfer moves the composition unchanged: leave it out")
    else:
        for name in ("material", "quantity", "unit"):
            if getattr(out, name) is None:
                raise invalid(f"{where}.{name}", f"is required on {EVENT_NAMES[kind]}'s outputs")
        if kind in ("extraction", "receipt") and out.composition is None:
            raise invalid(f"{where}.composition", f"is required on {EVENT_NAMES[kind]}'s outputs")
    if kind == "extraction" and out.material not in EXTRACTED_MATERIALS:
        raise invalid(f"{where}.material", "extraction makes ore or concentrate")
    if out.quantity is not None:
        _check_quantity(out.quantity, out.unit, f"{where}.quantity")
    if out.sku is not None and out.material is not None and out.material not in SKU_MATERIALS:
        raise invalid(f"{where}.sku", "only magnet, component and product lots name a SKU")
    planned = PlannedOutput(
        index=index,
        code=out.code,
        material=out.material,
        quantity=out.quantity,
        unit=out.unit,
        composition=_check_composition(out, where),
    )
    if out.value is not None:
        if out.value.amount <= 0:
            raise invalid(f"{where}.value.amount", "must be positive")
        planned.value = (Fraction(out.value.amount), out.value.currency)
    if out.declared_origin is not None:
        assert out.material is not None
        planned.declared = [({str(k): v for k, v in d.route.items()}, Fraction(d.percent)) for d in out.declared_origin]
        try:
            planned.shares = engine.receipt_shares(out.material, planned.declared)
        except engine.OriginRuleError as exc:
            raise invalid(f"{where}.declared_origin", str(exc)) from None
    return planned


def check_shape(body: EventCreate) -> list[PlannedOutput]:
    kind = body.type
    if not body.outputs:
        raise invalid("outputs", "an event makes at least one lot")
    if body.stage is not None and kind != "processing":
        raise invalid("stage", "only processing events take a stage")
    if kind in ("extraction", "receipt") and body.inputs:
        raise invalid("inputs", f"{EVENT_NAMES[kind]} consumes no lots")
    if kind == "processing" and not body.inputs:
        raise invalid("inputs", "a processing event consumes at least one lot")
    if kind == "transfer" and (len(body.inputs) != 1 or len(body.outputs) != 1):
        raise invalid(
            "inputs" if len(body.inputs) != 1 else "outputs", "a transfer has exactly one input and one output"
        )
    seen: set[object] = set()
    for index, item in enumerate(body.inputs):
        _check_input(index, item, seen)
    outputs = [_check_output(body, index, out) for index, out in enumerate(body.outputs)]
    codes: set[str] = set()
    for planned in outputs:
        if planned.code in codes:
            raise invalid(f"{planned.where}.code", "appears twice among this event's outputs")
        codes.add(planned.code)
    if kind == "processing":
        given = [p.composition is not None for p in outputs]
        if any(given) and not all(given):
            raise invalid("outputs", "either every output gives its composition or none does")
        if not any(given) and len({p.unit for p in outputs}) > 1:
            raise invalid("outputs", "derived compositions need one unit across outputs")
    return outputs


def lock_lots(session: Session, pks: list[int]) -> None:
    """Lock lots for this transaction and re-read them, always in primary-key order so writers never deadlock.

    On PostgreSQL this is ``SELECT ... FOR UPDATE``; on SQLite the write lock was taken
    when the transaction began (``BEGIN IMMEDIATE``) and this only re-reads.
    """
    if pks:
        query = select(Lot).where(col(Lot.pk).in_(pks)).order_by(col(Lot.pk)).with_for_update()
        list(session.exec(query.execution_options(populate_existing=True)))


# 2. References --------------------------------------------------------------------------------


def _resolve_inputs(lookups: Lookups, body: EventCreate, facility: Facility, actor: Principal) -> list[PlannedInput]:
    """The input lots, already locked and read by ``lookups``; another organization's are as if they did not exist."""
    planned: list[PlannedInput] = []
    seen: set[str] = set()
    for index, item in enumerate(body.inputs):
        where = f"inputs.{index}"
        lot = lookups.input_lot(item)
        if lot is not None and actor.role != "admin" and lot.organization_pk != actor.organization_pk:
            lot = None  # a refusal must not confirm that another organization holds such a lot
        if lot is None:
            name = item.lot if item.lot is not None else f"{item.lot_code} of {item.organization}"
            raise invalid(f"{where}.lot", f"no lot {name}")
        if lot.id in seen:
            raise invalid(where, "a lot appears twice among the inputs")
        seen.add(lot.id)
        if lot.facility_pk != facility.pk:
            raise invalid(
                f"{where}.lot",
                f"lot {lot.code} is not at facility {facility.code}: material is processed or shipped where it is",
            )
        if lot.unit == "pcs" and not _is_whole(item.quantity):
            raise invalid(f"{where}.quantity", "pieces are whole: a lot in pcs is consumed in whole pieces")
        if body.occurred_at < lot.occurred_at:
            raise invalid("occurred_at", f"an event cannot happen before its input lot {lot.code} was made")
        planned.append(PlannedInput(index=index, quantity=item.quantity, lot=lot))
    return planned


def fill_transfer(out: PlannedOutput, source: PlannedInput, sku: Sku | None) -> None:
    """A transfer's output takes the input's material, unit, SKU and consumed quantity."""
    lot = source.lot
    expected = {"material": lot.material, "unit": lot.unit, "quantity": source.quantity}
    for name, value in expected.items():
        given = getattr(out, name)
        if given is not None and given != value:
            raise invalid(f"{out.where}.{name}", f"a transfer keeps the input's {name} ({value})")
    if out.sku is not None and (sku is None or out.sku.pk != sku.pk):
        raise invalid(f"{out.where}.sku", "a transfer keeps the input's SKU")
    out.material, out.unit, out.quantity, out.sku = lot.material, lot.unit, source.quantity, sku


def resolve_references(
    lookups: Lookups, body: EventCreate, outputs: list[PlannedOutput], actor: Principal = OPERATOR
) -> tuple[Facility, list[PlannedInput]]:
    """The facility (the actor's to write at, checked first), inputs, SKUs and receiving facilities named."""
    facility = lookups.facility(body.facility, "facility")
    actor.require_own(facility.organization_pk, "record events at facilities")
    inputs = _resolve_inputs(lookups, body, facility, actor)
    for out, given in zip(outputs, body.outputs, strict=True):
        if given.sku is not None:
            out.sku = lookups.sku(given.sku)
            if out.sku is None:
                raise invalid(f"{out.where}.sku", f"no SKU is called {given.sku!r}")
        out.facility = facility
        if given.facility is not None:
            out.facility = lookups.facility(given.facility, f"{out.where}.facility")
        if body.type == "transfer":
            source = inputs[0]
            sku = lookups.skus_by_pk[source.lot.sku_pk] if source.lot.sku_pk is not None else None
            fill_transfer(out, source, sku)
    return facility, inputs


# 3. Stage and material ------------------------------------------------------------------------


def check_stage_and_material(
    body: EventCreate, facility: Facility, outputs: list[PlannedOutput], stages: set[str]
) -> None:
    if body.type == "extraction" and "mining" not in stages:
        raise invalid("facility", f"extraction needs a facility with the mining stage; {facility.code} has none")
    if body.stage is None:
        return
    if body.stage not in stages:
        raise invalid("stage", f"facility {facility.code} does not perform {body.stage}")
    for out in outputs:
        assert out.material is not None
        if engine.MATERIAL_STAGE[out.material] != body.stage:
            raise invalid(f"{out.where}.material", f"{out.material} is not made at the {body.stage} stage")


# 4. Conflicts ---------------------------------------------------------------------------------


def check_conflicts(lookups: Lookups, inputs: list[PlannedInput], outputs: list[PlannedOutput]) -> None:
    for item in inputs:
        lot = item.lot
        if lot.status == "voided":
            raise Conflict(f"Lot {lot.code} was voided; nothing of it can be consumed.")
        if item.quantity > lot.remaining:
            raise Conflict(
                f"Lot {lot.code} has {format_decimal(lot.remaining)} {lot.unit} left; "
                f"{format_decimal(item.quantity)} {lot.unit} cannot be consumed."
            )
    for out in outputs:
        assert out.facility is not None
        if lookups.is_taken(out.facility.organization_pk, out.code):
            raise Conflict(f"The lot code {out.code} is already used in the receiving organization.")
