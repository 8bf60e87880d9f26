"""One EPCIS event -> the Lodestone event it stands for (MAPPING.md 3.2 to 3.4).

Each refusal names the place in the document (``epcisBody.eventList.3.quantityList.0.quantity``);
the Lodestone fields a mapped event is built from remember where they came from, so a refusal of
the recorded event (a code already used, over-consumption) names the document's place too.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from service.epcis import NAMESPACE, UNITS, cbv_word
from service.epcis.identifiers import LotClass, Place, parse_lot_class, parse_place
from service.errors import FieldError, LodestoneError, NotMappable
from service.facilities import find_facility
from service.models import Facility, FacilityStage, Lot, Organization, Sku
from service.origin import MATERIAL_STAGE
from service.schemas import EventCreate

SKU_MATERIALS = ("magnet", "component", "product")
INSTANCE_LISTS = ("epcList", "inputEPCList", "outputEPCList", "childEPCs")


@dataclass
class Mapped:
    """What one EPCIS event becomes: a Lodestone event to record, a void, or nothing (already held)."""

    body: EventCreate | None = None
    # Per output, the EPC class the lot is kept under (exported verbatim).
    epc_classes: list[str] = field(default_factory=list)
    voids: bool = False
    # Lodestone field -> the document place it came from, for locating refusals.
    places: dict[str, str] = field(default_factory=dict)

    def locate(self, exc: LodestoneError, prefix: str) -> LodestoneError:
        """The refusal with its fields moved to the document's places (the longest known prefix wins)."""
        errors = [FieldError(self.place(error.field, prefix), error.message) for error in exc.errors]
        if not errors:  # a refusal of the whole event (a conflict): the event is the place
            return type(exc)(f"{prefix}: {exc.detail}", [FieldError(prefix, exc.detail)])
        return type(exc)("; ".join(f"{e.field}: {e.message}" for e in errors[:5]), errors)

    def place(self, name: str, prefix: str) -> str:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            known = self.places.get(".".join(parts[:end]))
            if known is not None:
                return ".".join([known, *parts[end:]])
        return prefix


class Extensions:
    """Lodestone's extension keys, under whatever prefix the document's ``@context`` maps to its namespace."""

    def __init__(self, namespaces: Mapping[str, str]) -> None:
        self.prefixes = sorted(prefix for prefix, iri in namespaces.items() if iri == NAMESPACE)

    def key(self, container: object, local: str) -> str | None:
        if not isinstance(container, Mapping):
            return None
        for candidate in (f"{NAMESPACE}{local}", *(f"{prefix}:{local}" for prefix in self.prefixes)):
            if candidate in container:
                return candidate
        return None

    def get(self, container: object, local: str) -> Any:
        name = self.key(container, local)
        return container[name] if name is not None and isinstance(container, Mapping) else None

    def prefixed(self, local: str) -> str:
        """How a refusal names a key the document left out: under the document's own prefix for Lodestone."""
        return f"{self.prefixes[0] if self.prefixes else 'lodestone'}:{local}"

    def locals(self, container: object) -> dict[str, tuple[str, Any]]:
        """Every Lodestone key of an object: local name -> (key as written, value)."""
        found: dict[str, tuple[str, Any]] = {}
        if not isinstance(container, Mapping):
            return found
        for name, value in container.items():
            for prefix in (NAMESPACE, *(f"{p}:" for p in self.prefixes)):
                if isinstance(name, str) and name.startswith(prefix):
                    found[name[len(prefix) :]] = (name, value)
        return found


class Mapper:
    """Maps events of one document, with the lookups they need (facilities, lots, SKUs) in the caller's session."""

    def __init__(self, session: Session, namespaces: Mapping[str, str], base: str) -> None:
        self.session = session
        self.ext = Extensions(namespaces)
        self.base = base
        # Lots made by events mapped but not yet recorded: (facility pk, epcClass) -> (organization, code, unit).
        self.made: dict[tuple[int, str], tuple[str, str, str]] = {}
        # A document names the same few places again and again: each is looked up once.
        self._facilities: dict[tuple[str, str], Facility | None] = {}
        self._organizations: dict[int, Organization | None] = {}
        self._stage_sets: dict[int, set[str]] = {}

    def remember(self, mapped: Mapped) -> None:
        """The lots a mapped event will make, so later events of the document may consume them by class."""
        body = mapped.body
        if body is None:
            return
        facility = self._facility_by("code", body.facility)
        for output, epc_class in zip(body.outputs, mapped.epc_classes, strict=False):
            where = self._facility_by("code", output.facility) if output.facility else facility
            if where is None or facility is None:
                continue
            organization = self._organization(where.organization_pk)
            unit: str = output.unit or "kg"
            if body.type == "transfer" and body.inputs:
                unit = self._input_unit(body.inputs[0].lot, body.inputs[0].lot_code, unit)
            if organization is not None:
                self.made[(where.pk or 0, epc_class)] = (organization.code, output.code, unit)

    def _facility_by(self, kind: str, value: str) -> Facility | None:
        key = (kind, value if kind == "gln" else value.lower())
        if key not in self._facilities:
            if kind == "gln":
                self._facilities[key] = self.session.exec(select(Facility).where(Facility.gln == value)).first()
            else:
                self._facilities[key] = find_facility(self.session, value)
        return self._facilities[key]

    def _organization(self, pk: int) -> Organization | None:
        if pk not in self._organizations:
            self._organizations[pk] = self.session.get(Organization, pk)
        return self._organizations[pk]

    def forget(self) -> None:
        """Once recorded, the lots are found in the database."""
        self.made.clear()

    def _input_unit(self, lot_id: str | None, code: str | None, default: str) -> str:
        if lot_id is not None:
            lot = self.session.exec(select(Lot).where(Lot.id == lot_id)).first()
            return lot.unit if lot is not None else default
        return default

    # -- the event ---------------------------------------------------------------------------------------
    @staticmethod
    def check_supported(event: dict[str, Any], at: str) -> None:
        """What no Lodestone event can stand for, whatever the rest says: other event types, serial numbers."""
        kind = event.get("type")
        if kind not in ("ObjectEvent", "TransformationEvent"):
            raise _refuse(f"{at}.type", f"event type {kind!r} is not supported by Lodestone (only ObjectEvent and "
                          "TransformationEvent carry lot quantities it can trace)")  # fmt: skip
        for name in INSTANCE_LISTS:
            if event.get(name):
                raise _refuse(
                    f"{at}.{name}",
                    "instance-level EPCs are not supported; Lodestone tracks lots: send quantityList with a "
                    "lot-level epcClass",
                )

    def map(self, event: dict[str, Any], at: str) -> Mapped:
        self.check_supported(event, at)
        kind = event.get("type")
        explicit = self.ext.get(event, "eventType")
        biz_step = cbv_word(event.get("bizStep"), "BizStep")
        action = event.get("action")
        if explicit is not None and explicit not in ("extraction", "receipt", "processing", "transfer"):
            raise _refuse(f"{at}.{self.ext.key(event, 'eventType')}", f"{explicit!r} is not a Lodestone event type")
        if kind == "ObjectEvent":
            if explicit in ("processing",):
                raise _refuse(f"{at}.type", "a processing event is a TransformationEvent")
            if action == "OBSERVE" and (explicit == "transfer" or (explicit is None and biz_step == "shipping")):
                return self._observed_shipping(event, at)
            if action == "OBSERVE" and explicit is None and biz_step in ("receiving", "arriving"):
                return self._observed_arrival(event, at)
            if action != "ADD":
                raise _refuse(
                    f"{at}.action",
                    f"an ObjectEvent with action {action} and bizStep {biz_step} is not supported by Lodestone: "
                    "material entering the system is action ADD with ILMD",
                )
            if explicit == "transfer":
                raise _refuse(f"{at}.action", "a transfer is a TransformationEvent or an OBSERVE shipping event")
            return self._added(event, at, explicit, biz_step)
        if explicit in ("extraction", "receipt"):
            raise _refuse(f"{at}.type", f"a {explicit} is an ObjectEvent with action ADD")
        if explicit == "transfer" or (explicit is None and biz_step == "shipping"):
            return self._shipped(event, at)
        return self._transformed(event, at)

    # -- kinds -------------------------------------------------------------------------------------------
    def _added(self, event: dict[str, Any], at: str, explicit: str | None, biz_step: str | None) -> Mapped:
        facility, facility_at = self._facility(event, at)
        quantities = _list(event, "quantityList", at)
        lots = self._ilmd_lots(event, at, len(quantities))
        materials = [self.ext.get(entry, "material") for _, entry in lots]
        kind = explicit
        if kind is None:
            mining = "mining" in self._stages(facility)
            extracted = biz_step == "commissioning" and mining and all(m in ("ore", "concentrate") for m in materials)
            kind = "extraction" if extracted else "receipt"
        mapped = Mapped()
        body: dict[str, Any] = self._common(event, at, kind, facility, facility_at, mapped)
        country = self._country_of_origin(event, at) if kind == "receipt" else None
        body["outputs"] = [
            self._output(event, at, k, quantity, lots[k], mapped, kind=kind, country=country)
            for k, quantity in enumerate(quantities)
        ]
        return self._built(body, mapped, at)

    def _transformed(self, event: dict[str, Any], at: str) -> Mapped:
        facility, facility_at = self._facility(event, at)
        inputs = _list(event, "inputQuantityList", at)
        outputs = _list(event, "outputQuantityList", at)
        lots = self._ilmd_lots(event, at, len(outputs))
        mapped = Mapped()
        body = self._common(event, at, "processing", facility, facility_at, mapped)
        stage_key = self.ext.key(event, "stage")
        if stage_key is not None:
            body["stage"] = event[stage_key]
            mapped.places["stage"] = f"{at}.{stage_key}"
        body["inputs"] = [
            self._input(facility, f"{at}.inputQuantityList.{k}", item, mapped, f"inputs.{k}")
            for k, item in enumerate(inputs)
        ]
        body["outputs"] = [
            self._output(event, at, k, quantity, lots[k], mapped, kind="processing", country=None)
            for k, quantity in enumerate(outputs)
        ]
        return self._built(body, mapped, at)

    def _shipped(self, event: dict[str, Any], at: str) -> Mapped:
        inputs = _list(event, "inputQuantityList", at)
        outputs = _list(event, "outputQuantityList", at)
        if len(inputs) != 1 or len(outputs) != 1:
            raise _refuse(f"{at}.inputQuantityList", "a transfer has exactly one input and one output")
        sender, sender_at = self._sender(event, at)
        receiver = self._receiver(event, at)
        mapped = Mapped()
        body = self._common(event, at, "transfer", sender, sender_at, mapped)
        body["inputs"] = [self._input(sender, f"{at}.inputQuantityList.0", inputs[0], mapped, "inputs.0")]
        lots = self._ilmd_lots(event, at, 1, required=False)
        entry_at, entry = lots[0]
        out_at = f"{at}.outputQuantityList.0"
        epc_class = _epc_class(outputs[0], out_at)
        code, code_at = self._code(entry, entry_at, epc_class, out_at)
        output: dict[str, Any] = {"code": code, "facility": receiver.code}
        mapped.places |= {"outputs.0": out_at, "outputs.0.code": code_at, "outputs.0.facility": f"{at}.destinationList"}
        self._quantity(outputs[0], out_at, output, mapped, "outputs.0")
        for local in ("material", "sku", "value", "composition", "declaredOrigin"):
            key = self.ext.key(entry, local)
            if key is not None and local in ("composition", "declaredOrigin"):
                raise _refuse(f"{entry_at}.{key}", "a transfer moves composition and origin unchanged: leave it out")
        value = self.ext.get(entry, "value")
        if value is not None:
            output["value"] = self._value(value)
            mapped.places["outputs.0.value"] = f"{entry_at}.{self.ext.key(entry, 'value')}"
        body["outputs"] = [output]
        mapped.epc_classes = [epc_class]
        return self._built(body, mapped, at)

    def _observed_shipping(self, event: dict[str, Any], at: str) -> Mapped:
        quantities = _list(event, "quantityList", at)
        if len(quantities) != 1:
            raise _refuse(
                f"{at}.quantityList", "a shipping event Lodestone records has exactly one quantityList element"
            )
        sender, sender_at = self._sender(event, at)
        receiver = self._receiver(event, at)
        mapped = Mapped()
        body = self._common(event, at, "transfer", sender, sender_at, mapped)
        item_at = f"{at}.quantityList.0"
        body["inputs"] = [self._input(sender, item_at, quantities[0], mapped, "inputs.0")]
        epc_class = _epc_class(quantities[0], item_at)
        code_key = self.ext.key(event, "outputCode")
        pending = self.made.get((sender.pk or 0, epc_class))
        if code_key is not None:
            code, code_at = event[code_key], f"{at}.{code_key}"
        elif pending is not None:
            code, code_at = pending[1], f"{item_at}.epcClass"
        else:
            code, code_at = self._held_lot(sender, epc_class, item_at).code, f"{item_at}.epcClass"
        body["outputs"] = [{"code": code, "facility": receiver.code}]
        mapped.places |= {
            "outputs.0": item_at,
            "outputs.0.code": code_at,
            "outputs.0.facility": f"{at}.destinationList",
        }
        mapped.epc_classes = [epc_class]
        return self._built(body, mapped, at)

    def _observed_arrival(self, event: dict[str, Any], at: str) -> Mapped:
        """The receiving half of a shipping already captured at the sender: nothing more to record."""
        facility, _ = self._facility(event, at)
        for k, item in enumerate(_list(event, "quantityList", at)):
            epc_class = _epc_class(item, f"{at}.quantityList.{k}")
            held = self.session.exec(
                select(Lot.pk).where(Lot.facility_pk == facility.pk, Lot.epc_class == epc_class, Lot.status == "active")
            ).first()
            if held is None and (facility.pk or 0, epc_class) not in self.made:
                raise _refuse(
                    f"{at}.quantityList.{k}.epcClass",
                    "Lodestone records a transfer once, at the sender: capture the shipping event first, or send "
                    "action ADD with ILMD for material entering from outside",
                )
        return Mapped()

    # -- parts ---------------------------------------------------------------------------------------------
    def _common(
        self, event: dict[str, Any], at: str, kind: str, facility: Facility, facility_at: str, mapped: Mapped
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": kind,
            "facility": facility.code,
            "occurred_at": _utc(event.get("eventTime"), f"{at}.eventTime"),
            "inputs": [],
        }
        mapped.places |= {"type": f"{at}.type", "facility": facility_at, "occurred_at": f"{at}.eventTime"}
        reference_key = self.ext.key(event, "reference")
        if reference_key is not None:
            body["reference"] = event[reference_key]
            mapped.places["reference"] = f"{at}.{reference_key}"
        return body

    def _output(
        self,
        event: dict[str, Any],
        at: str,
        index: int,
        item: Any,
        lot: tuple[str, Any],
        mapped: Mapped,
        *,
        kind: str,
        country: str | None,
    ) -> dict[str, Any]:
        list_name = "quantityList" if event.get("type") == "ObjectEvent" else "outputQuantityList"
        item_at = f"{at}.{list_name}.{index}"
        entry_at, entry = lot
        epc_class = _epc_class(item, item_at)
        mapped.epc_classes.append(epc_class)
        name = f"outputs.{index}"
        code, code_at = self._code(entry, entry_at, epc_class, item_at)
        output: dict[str, Any] = {"code": code}
        mapped.places |= {name: entry_at, f"{name}.code": code_at}
        self._quantity(item, item_at, output, mapped, name)
        fields = self.ext.locals(entry)
        material = fields.get("material")
        if material is None:
            raise _refuse(f"{entry_at}.{self.ext.prefixed('material')}", "required")
        output["material"] = material[1]
        mapped.places[f"{name}.material"] = f"{entry_at}.{material[0]}"
        if "composition" in fields:
            written, composition = fields["composition"]
            output["composition"] = self._elements(composition, f"{entry_at}.{written}")
            mapped.places[f"{name}.composition"] = f"{entry_at}.{written}"
        elif kind in ("extraction", "receipt"):
            raise _refuse(f"{entry_at}.{self.ext.prefixed('composition')}", "required for extraction and receipt")
        lot_class = parse_lot_class(epc_class, self.base)
        sku = self._sku(fields, lot_class, output["material"], entry_at, item_at)
        if sku is not None:
            output["sku"] = sku
            mapped.places[f"{name}.sku"] = (
                f"{entry_at}.{fields['sku'][0]}" if "sku" in fields else f"{item_at}.epcClass"
            )
        if "value" in fields:
            output["value"] = self._value(fields["value"][1])
            mapped.places[f"{name}.value"] = f"{entry_at}.{fields['value'][0]}"
        if "declaredOrigin" in fields:
            written, declared = fields["declaredOrigin"]
            if kind != "receipt":
                raise _refuse(f"{entry_at}.{written}", "only a receipt declares origin")
            output["declared_origin"] = self._declared(declared, f"{entry_at}.{written}")
            mapped.places[f"{name}.declared_origin"] = f"{entry_at}.{written}"
        elif country is not None and isinstance(output["material"], str) and output["material"] in MATERIAL_STAGE:
            output["declared_origin"] = [{"route": {MATERIAL_STAGE[output["material"]]: country}, "percent": "100"}]
            mapped.places[f"{name}.declared_origin"] = f"{at}.ilmd"
        return output

    def _quantity(self, item: Any, item_at: str, output: dict[str, Any], mapped: Mapped, name: str) -> None:
        quantity = item.get("quantity") if isinstance(item, Mapping) else None
        if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal) or quantity <= 0:
            raise _refuse(f"{item_at}.quantity", "required and must be positive")
        uom = item.get("uom")
        unit = UNITS.get(uom) if uom is not None else "pcs"
        if unit is None:
            raise _refuse(f"{item_at}.uom", f"{uom!r} is not supported: use KGM, TNE, GRM, or omit it for pieces")
        output["quantity"] = _decimal_text(quantity)
        output["unit"] = unit
        mapped.places |= {f"{name}.quantity": f"{item_at}.quantity", f"{name}.unit": f"{item_at}.uom"}

    def _input(self, facility: Facility, item_at: str, item: Any, mapped: Mapped, name: str) -> dict[str, Any]:
        epc_class = _epc_class(item, item_at)
        pending = self.made.get((facility.pk or 0, epc_class))
        taken: dict[str, Any]
        if pending is not None:
            organization, code, unit = pending
            taken = {"lot_code": code, "organization": organization}
        else:
            lot = self._held_lot(facility, epc_class, item_at)
            taken, unit = {"lot": lot.id}, lot.unit
        self._quantity(item, item_at, taken, mapped, name)
        del taken["unit"]
        uom = item.get("uom")
        if (UNITS.get(uom) if uom is not None else "pcs") != unit:
            raise _refuse(f"{item_at}.uom", f"the lot is counted in {unit}: the unit must be the lot's own")
        mapped.places |= {
            name: item_at,
            f"{name}.lot": f"{item_at}.epcClass",
            f"{name}.lot_code": f"{item_at}.epcClass",
        }
        return taken

    def _held_lot(self, facility: Facility, epc_class: str, item_at: str) -> Lot:
        """The lot an input's epcClass names: held under that class at the facility, else by its parsed code."""
        query = select(Lot).where(Lot.facility_pk == facility.pk, Lot.epc_class == epc_class)
        held = list(self.session.exec(query.order_by(col(Lot.status), col(Lot.pk).desc())))
        active = [lot for lot in held if lot.status == "active" and lot.remaining > 0]
        if active or held:
            return (active or held)[0]
        parsed = parse_lot_class(epc_class, self.base)
        organization = self._organization(facility.organization_pk)
        code: str | None = None
        if parsed.code is not None and organization is not None and parsed.organization == organization.code:
            code = parsed.code
        elif parsed.gtin is not None and parsed.lot is not None:
            code = parsed.lot
        if code is not None:
            found = self.session.exec(
                select(Lot).where(Lot.organization_pk == facility.organization_pk, Lot.code == code)
            ).first()
            if found is not None:
                return found
        raise _refuse(f"{item_at}.epcClass", f"no lot with epcClass {epc_class} at facility {facility.code}")

    def _code(self, entry: Any, entry_at: str, epc_class: str, item_at: str) -> tuple[Any, str]:
        key = self.ext.key(entry, "code")
        if key is not None:
            return entry[key], f"{entry_at}.{key}"
        parsed = parse_lot_class(epc_class, self.base)
        code = parsed.code if parsed.code is not None else parsed.lot
        if code is None:
            raise _refuse(
                f"{item_at}.epcClass",
                f"cannot derive a lot code from {epc_class!r}: give ILMD {self.ext.prefixed('code')}",
            )
        return code, f"{item_at}.epcClass"

    def _sku(
        self, fields: dict[str, tuple[str, Any]], lot_class: LotClass, material: Any, entry_at: str, item_at: str
    ) -> str | None:
        if "sku" in fields:
            return str(fields["sku"][1]) if isinstance(fields["sku"][1], str) else fields["sku"][1]
        if lot_class.gtin is None or material not in SKU_MATERIALS:
            return None
        found = self.session.exec(select(Sku).where(col(Sku.gtin).in_(_gtin_forms(lot_class.gtin)))).first()
        if found is None:
            raise _refuse(
                f"{item_at}.epcClass", f"no SKU has the GTIN {lot_class.gtin}: create the SKU with that gtin first"
            )
        return found.sku

    def _elements(self, composition: Any, at: str) -> Any:
        if not isinstance(composition, Mapping):
            raise _refuse(at, "must be an object of element -> kilograms")
        elements: dict[str, Any] = {}
        for key, value in composition.items():
            local = self._local(key)
            if local is None:
                raise _refuse(f"{at}.{key}", f"element keys carry the Lodestone prefix ({self.ext.prefixed('Nd')})")
            elements[local] = value
        return elements

    def _value(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {local: item for local, (_, item) in self.ext.locals(value).items()}

    def _declared(self, declared: Any, at: str) -> Any:
        if not isinstance(declared, list):
            raise _refuse(at, "must be a list of routes, each with stages and a percent")
        routes = []
        for k, route in enumerate(declared):
            fields = self.ext.locals(route)
            if not isinstance(route, Mapping) or "percent" not in fields:
                raise _refuse(f"{at}.{k}", f"each route gives {self.ext.prefixed('percent')}")
            stages = {local: value for local, (_, value) in fields.items() if local != "percent"}
            routes.append({"route": stages, "percent": fields["percent"][1]})
        return routes

    def _local(self, key: object) -> str | None:
        if not isinstance(key, str):
            return None
        for prefix in (NAMESPACE, *(f"{p}:" for p in self.ext.prefixes)):
            if key.startswith(prefix):
                return key[len(prefix) :]
        return None

    def _ilmd_lots(
        self, event: dict[str, Any], at: str, outputs: int, *, required: bool = True
    ) -> list[tuple[str, Any]]:
        """Each output's ILMD entry, matched by ``epcClass`` (optional when there is one output)."""
        ilmd = event.get("ilmd")
        key = self.ext.key(ilmd, "lots")
        if key is None or not isinstance(ilmd, Mapping):
            if not required:
                return [(f"{at}.ilmd", {})] * outputs
            raise _refuse(
                f"{at}.ilmd.{self.ext.prefixed('lots')}", "required: one entry per output lot, with its material"
            )
        entries = ilmd[key]
        lots_at = f"{at}.ilmd.{key}"
        if not isinstance(entries, list) or not entries:
            raise _refuse(lots_at, "must be a list with one entry per output lot")
        list_name = "quantityList" if event.get("type") == "ObjectEvent" else "outputQuantityList"
        classes = [item.get("epcClass") if isinstance(item, Mapping) else None for item in event.get(list_name) or []]
        if outputs == 1 and len(entries) == 1:
            return [(f"{lots_at}.0", entries[0])]
        by_class: dict[Any, tuple[str, Any]] = {}
        for k, entry in enumerate(entries):
            named = self.ext.get(entry, "epcClass")
            if named is None:
                raise _refuse(
                    f"{lots_at}.{k}", f"with several outputs each entry names its {self.ext.prefixed('epcClass')}"
                )
            by_class[named] = (f"{lots_at}.{k}", entry)
        found = []
        for k, epc_class in enumerate(classes):
            if epc_class not in by_class:
                raise _refuse(f"{at}.{list_name}.{k}.epcClass", f"no ILMD entry in {lots_at} names {epc_class}")
            found.append(by_class[epc_class])
        return found

    def _country_of_origin(self, event: dict[str, Any], at: str) -> str | None:
        ilmd = event.get("ilmd")
        if not isinstance(ilmd, Mapping):
            return None
        for key, value in ilmd.items():
            if key in ("cbvmda:countryOfOrigin", "urn:epcglobal:cbv:mda:countryOfOrigin") and isinstance(value, str):
                return value
        return None

    def _facility(self, event: dict[str, Any], at: str) -> tuple[Facility, str]:
        for name in ("bizLocation", "readPoint"):
            located = event.get(name)
            if isinstance(located, Mapping) and isinstance(located.get("id"), str):
                return self._place(located["id"], f"{at}.{name}.id"), f"{at}.{name}.id"
        raise _refuse(at, "the event names no location: give bizLocation or readPoint")

    def _sender(self, event: dict[str, Any], at: str) -> tuple[Facility, str]:
        for k, source in enumerate(event.get("sourceList") or []):
            if isinstance(source, Mapping) and cbv_word(source.get("type"), "SDT") == "location":
                return self._place(source.get("source", ""), f"{at}.sourceList.{k}.source"), f"{at}.sourceList.{k}"
        for name in ("readPoint", "bizLocation"):
            located = event.get(name)
            if isinstance(located, Mapping) and isinstance(located.get("id"), str):
                return self._place(located["id"], f"{at}.{name}.id"), f"{at}.{name}.id"
        raise _refuse(at, "the event names no location: give a source of type location, or readPoint")

    def _receiver(self, event: dict[str, Any], at: str) -> Facility:
        for k, destination in enumerate(event.get("destinationList") or []):
            if isinstance(destination, Mapping) and cbv_word(destination.get("type"), "SDT") == "location":
                return self._place(destination.get("destination", ""), f"{at}.destinationList.{k}.destination")
        raise _refuse(f"{at}.destinationList", "a transfer needs a destination of type location")

    def _place(self, uri: str, at: str) -> Facility:
        try:
            place: Place | None = parse_place(uri, self.base)
        except ValueError as exc:
            raise _refuse(at, str(exc)) from None
        facility: Facility | None = None
        if place is not None and place.gln is not None:
            facility = self._facility_by("gln", place.gln)
            if facility is None:
                raise _refuse(at, f"no facility has GLN {place.gln}")
        elif place is not None and place.facility is not None:
            facility = self._facility_by("code", place.facility)
        if facility is None:
            raise _refuse(at, f"no facility is identified by {uri!r} (give it a GLN, or use {self.base}facility/CODE)")
        return facility

    def _stages(self, facility: Facility) -> set[str]:
        pk = facility.pk or 0
        if pk not in self._stage_sets:
            query = select(FacilityStage.stage).where(FacilityStage.facility_pk == pk)
            self._stage_sets[pk] = set(self.session.exec(query))
        return self._stage_sets[pk]

    def _built(self, body: dict[str, Any], mapped: Mapped, at: str) -> Mapped:
        try:
            mapped.body = EventCreate.model_validate(body)
        except ValidationError as exc:
            errors = [
                FieldError(mapped.place(".".join(str(p) for p in error["loc"]), at), _message(error))
                for error in exc.errors()
            ]
            raise NotMappable("; ".join(f"{e.field}: {e.message}" for e in errors[:5]), errors) from None
        return mapped


def _message(error: Mapping[str, Any]) -> str:
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


def _refuse(place: str, message: str) -> NotMappable:
    return NotMappable(f"{place}: {message}", [FieldError(place, message)])


def _list(event: Mapping[str, Any], name: str, at: str) -> list[Any]:
    items = event.get(name)
    if not isinstance(items, list) or not items:
        raise _refuse(f"{at}.{name}", "required: Lodestone records lots by class and quantity")
    return items


def _epc_class(item: Any, at: str) -> str:
    epc_class = item.get("epcClass") if isinstance(item, Mapping) else None
    if not isinstance(epc_class, str):
        raise _refuse(f"{at}.epcClass", "required")
    return epc_class


def _utc(value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise _refuse(at, "required")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(at, "must be a date-time with an offset") from None
    if moment.tzinfo is None:
        raise _refuse(at, "must carry an offset")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _decimal_text(quantity: int | Decimal) -> str:
    return format(Decimal(quantity).normalize(), "f") if isinstance(quantity, Decimal) else str(quantity)


def _gtin_forms(gtin: str) -> list[str]:
    """A GTIN-14 as the SKU may have stored it: 14 digits, or without the leading zeros of GTIN-13/12/8."""
    return [gtin[len(gtin) - size :] for size in (14, 13, 12, 8) if gtin[: len(gtin) - size].strip("0") == ""]
