"""Step 5 of ORIGIN.md: each output's composition and origin, and mass balance."""

from decimal import Decimal
from fractions import Fraction

from service import origin as engine
from service.errors import invalid
from service.events.checks import PlannedInput, PlannedOutput, check_weight
from service.lots import lot_state, lot_value
from service.numbers import format_decimal
from service.schemas import EventCreate


def _compute_new_material(body: EventCreate, country: str, outputs: list[PlannedOutput]) -> None:
    for out in outputs:
        assert out.composition is not None
        assert out.material is not None
        if body.type == "extraction":
            out.origin = engine.extraction_origin(out.composition, country)
        else:
            shares = out.shares if out.shares is not None else engine.receipt_shares(out.material, out.declared)
            out.origin = engine.spread(out.composition, shares)
        out.element_resolved = engine.is_resolved_composition(out.composition)


def _check_mass_balance(pool: engine.Pool, outputs: list[PlannedOutput], tolerance: Fraction) -> None:
    """Outputs hold at most ``pool x (1 + tolerance)``, and derived compositions fit their lots."""
    excess = engine.mass_balance_excess(pool, [out.composition or {} for out in outputs], tolerance)
    if excess:
        raise invalid(
            "outputs",
            f"mass balance: outputs hold more than went in ({', '.join(excess)}), "
            f"beyond the tolerance of {format_decimal(Decimal(tolerance.numerator) / tolerance.denominator)}",
        )
    for out in outputs:
        check_weight(out.composition or {}, out.quantity, out.unit, f"{out.where}.composition")


def _consumed_share(item: PlannedInput) -> Fraction:
    """The share of its lot an input consumes: 1 for the whole lot, as most chains consume."""
    if item.quantity == item.lot.quantity:
        return Fraction(1)
    return Fraction(item.quantity) / Fraction(item.lot.quantity)


def _compute_processed(
    body: EventCreate,
    country: str,
    inputs: list[PlannedInput],
    outputs: list[PlannedOutput],
    tolerance: Fraction | None,
) -> None:
    given = [out.composition for out in outputs]
    pool = engine.make_pool(
        [(_consumed_share(item), lot_state(item.lot)) for item in inputs],
        outputs_resolved=all(c is None or engine.is_resolved_composition(c) for c in given),
    )
    if given[0] is None:
        derived = engine.derive_compositions(pool, [out.quantity or Decimal(0) for out in outputs])
        for out, composition in zip(outputs, derived, strict=True):
            out.composition = engine.clean_composition(composition)
    if tolerance is not None:
        _check_mass_balance(pool, outputs, tolerance)
    for out in outputs:
        assert out.composition is not None
        out.origin = engine.attribute(engine.distribute(pool, out.composition), body.stage, country)
        out.element_resolved = pool.element_resolved


def compute_outputs(
    body: EventCreate,
    country: str,
    inputs: list[PlannedInput],
    outputs: list[PlannedOutput],
    tolerance: Fraction | None,
) -> None:
    """Fill every output's composition, origin, mode and inherited value.

    ``tolerance=None`` skips mass balance (for verify).
    """
    if body.type in ("extraction", "receipt"):
        _compute_new_material(body, country, outputs)
    else:
        _compute_processed(body, country, inputs, outputs, tolerance)
    if body.type == "transfer":
        _inherit_value(inputs[0], outputs[0])


def _inherit_value(source: PlannedInput, out: PlannedOutput) -> None:
    """A transfer's output given no value takes its input's exact value, pro rata to the quantity moved."""
    value = lot_value(source.lot)
    if out.value is None and value is not None:
        amount, currency = value
        out.value = (amount * Fraction(source.quantity) / Fraction(source.lot.quantity), currency)
