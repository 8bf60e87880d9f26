"""The demo supply chain: real places, real routes, made-up quantities.

- Mount Weld (AU) -> Lynas Malaysia (MY) -> Shin-Etsu Takefu (JP) -> a US motor
  plant. The high-temperature motor also needs dysprosium, and that comes from
  Myanmar ionic clay separated in Ganzhou (CN): EV-MOTOR-200 answers `yes`,
  SERVO-50 (same chain, no dysprosium) answers `no`.
- Bayan Obo (CN) -> Baotou separation and metal (CN) -> JL Mag Ganzhou (CN)
  -> a Mexican assembly line: EBIKE-HUB-1 answers `yes`.
- Magnet scrap recycled into oxide at Lacq (FR), made into magnets in Japan:
  FAN-RC-3 answers `no`.
- Magnets bought from a trader who declares only 70 % of their origin:
  PUMP-X9 answers `unknown`.

The rules (RULES.md) then answer for EV-MOTOR-200 as a buyer would want to see them:
MOFCOM No. 18 `yes` (its dysprosium was separated in China); DFARS 252.225-7052 `no` on
2026-12-31 (metal, magnets and motor made in Japan and the US) and `yes` from 2027-01-01 (when
refining counts); MOFCOM No. 61 in force from 2027-01-10, `yes` with the Chinese-separated
dysprosium worth 7.2 % of the magnets' value (illustrative prices, not market data).
"""

from fractions import Fraction
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from service.db import transaction
from service.events import record_event
from service.facilities import create_facility
from service.models import Organization
from service.organizations import create_organization
from service.prices import create_price
from service.schemas import EventCreate, FacilityCreate, OrganizationCreate, SkuCreate
from service.schemas.prices import PriceCreate
from service.skus import create_sku

ORGANIZATIONS = [
    ("LYNAS", "Lynas Rare Earths", "AU"),
    ("CNRE", "China Northern Rare Earth Group", "CN"),
    ("CREG", "China Rare Earth Group", "CN"),
    ("KACHIN", "Kachin ionic clay suppliers", "MM"),
    ("JLMAG", "JL Mag Rare-Earth", "CN"),
    ("SHINETSU", "Shin-Etsu Chemical", "JP"),
    ("CARESTER", "Carester", "FR"),
    ("ACME", "ACME Motors", "US"),
]
FACILITIES = [
    ("MTW", "Mount Weld mine and concentrator", "LYNAS", "AU", ["mining"]),
    ("KUANTAN", "Lynas Malaysia advanced materials plant, Kuantan", "LYNAS", "MY", ["refining"]),
    ("BAYAN", "Bayan Obo mine", "CNRE", "CN", ["mining"]),
    ("BT-SEP", "Baotou separation and metal plant", "CNRE", "CN", ["refining", "metal_making"]),
    ("PANGWA", "Pangwa ionic clay leaching, Kachin State", "KACHIN", "MM", ["mining"]),
    ("GZ-SEP", "Ganzhou separation plant", "CREG", "CN", ["refining"]),
    ("JL-GZ", "JL Mag Ganzhou magnet plant", "JLMAG", "CN", ["magnet_making"]),
    ("TAKEFU", "Shin-Etsu Takefu magnet plant", "SHINETSU", "JP", ["metal_making", "magnet_making"]),
    ("LACQ", "Caremag recycling and separation, Lacq", "CARESTER", "FR", ["refining"]),
    ("ACME-TX", "ACME Motors, Texas", "ACME", "US", ["manufacturing"]),
    ("ACME-MX", "ACME Motors, Monterrey", "ACME", "MX", ["manufacturing"]),
]
# Illustrative GLNs (GS1's example company prefix 0614141), so that EPCIS documents can name these places.
GLNS = {"TAKEFU": "0614141008889", "KUANTAN": "0614141007776"}
SKUS = [
    ("EV-MOTOR-200", "EV traction motor 200 kW (high-temperature magnets)", "4006381333931"),
    ("SERVO-50", "Industrial servo motor 50 W", None),
    ("EBIKE-HUB-1", "E-bike hub motor", None),
    ("FAN-RC-3", "HVAC fan motor with recycled magnets", None),
    ("PUMP-X9", "Pool pump motor", None),
]


def _lot(code: str, organization: str, quantity: str) -> dict[str, str]:
    return {"lot_code": code, "organization": organization, "quantity": quantity}


def _out(code: str, material: str, quantity: str, unit: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "material": material, "quantity": quantity, "unit": unit, **extra}


def _event(kind: str, facility: str, day: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "facility": facility, "occurred_at": f"2025-{day}T08:00:00Z", **fields}


def _ship(facility: str, day: str, lot: dict[str, str], code: str, to: str) -> dict[str, Any]:
    return _event("transfer", facility, day, inputs=[lot], outputs=[{"code": code, "facility": to}])


EVENTS: list[dict[str, Any]] = [
    # Lynas: Australian ore, separated in Malaysia, magnets in Japan.
    _event("extraction", "MTW", "03-03", outputs=[_out("MTW-CONC-2501", "concentrate", "20000", "kg",
           composition={"La": "3000", "Ce": "5000", "Pr": "600", "Nd": "1800"})]),
    _ship("MTW", "03-20", _lot("MTW-CONC-2501", "LYNAS", "20000"), "KU-IN-2501", "KUANTAN"),
    _event("processing", "KUANTAN", "04-15", stage="refining", inputs=[_lot("KU-IN-2501", "LYNAS", "20000")],
           outputs=[_out("KU-NDPR-2501", "oxide", "3000", "kg", composition={"Pr": "580", "Nd": "1750"})]),
    _ship("KUANTAN", "05-02", _lot("KU-NDPR-2501", "LYNAS", "3000"), "TK-NDPR-2501", "TAKEFU"),
    # Heavy rare earths: Myanmar ionic clay, separated in China.
    _event("extraction", "PANGWA", "02-10", outputs=[_out("PW-CLAY-2501", "concentrate", "5000", "kg",
           composition={"Tb": "12", "Dy": "60", "Y": "300"})]),
    _ship("PANGWA", "02-25", _lot("PW-CLAY-2501", "KACHIN", "5000"), "GZ-IN-2501", "GZ-SEP"),
    _event("processing", "GZ-SEP", "03-30", stage="refining", inputs=[_lot("GZ-IN-2501", "CREG", "5000")],
           outputs=[_out("GZ-DY-OX-2501", "oxide", "70", "kg", composition={"Dy": "58"}),
                    _out("GZ-TB-OX-2501", "oxide", "14", "kg", composition={"Tb": "11.5"}),
                    _out("GZ-Y-OX-2501", "oxide", "370", "kg", composition={"Y": "290"})]),
    _ship("GZ-SEP", "04-20", _lot("GZ-DY-OX-2501", "CREG", "70"), "TK-DY-2501", "TAKEFU"),
    # Takefu: a high-temperature grade with dysprosium, and a standard grade without.
    _event("processing", "TAKEFU", "05-20", stage="magnet_making",
           inputs=[_lot("TK-NDPR-2501", "SHINETSU", "1500"), _lot("TK-DY-2501", "SHINETSU", "35")],
           outputs=[_out("TK-MAG-HT-2501", "magnet", "2000", "pcs",
                         composition={"Pr": "288", "Nd": "865", "Dy": "28.8"},
                         value={"amount": "180000.00", "currency": "USD"})]),
    _event("processing", "TAKEFU", "05-21", stage="magnet_making", inputs=[_lot("TK-NDPR-2501", "SHINETSU", "1500")],
           outputs=[_out("TK-MAG-STD-2501", "magnet", "2000", "pcs", composition={"Pr": "288", "Nd": "870"})]),
    _ship("TAKEFU", "06-05", _lot("TK-MAG-HT-2501", "SHINETSU", "2000"), "TX-MAG-HT-2501", "ACME-TX"),
    _ship("TAKEFU", "06-05", _lot("TK-MAG-STD-2501", "SHINETSU", "2000"), "TX-MAG-STD-2501", "ACME-TX"),
    _event("processing", "ACME-TX", "06-20", stage="manufacturing", inputs=[_lot("TX-MAG-HT-2501", "ACME", "2000")],
           outputs=[_out("TX-EVM-2501", "product", "500", "pcs", sku="EV-MOTOR-200")]),
    _event("processing", "ACME-TX", "06-21", stage="manufacturing", inputs=[_lot("TX-MAG-STD-2501", "ACME", "2000")],
           outputs=[_out("TX-SRV-2501", "product", "1000", "pcs", sku="SERVO-50")]),
    # The Chinese chain: Bayan Obo to Baotou to Ganzhou to Mexico.
    _event("extraction", "BAYAN", "03-01", outputs=[_out("BO-CONC-2501", "concentrate", "30000", "kg",
           composition={"La": "4000", "Ce": "7000", "Pr": "700", "Nd": "2400"})]),
    _ship("BAYAN", "03-10", _lot("BO-CONC-2501", "CNRE", "30000"), "BT-IN-2501", "BT-SEP"),
    _event("processing", "BT-SEP", "04-01", stage="refining", inputs=[_lot("BT-IN-2501", "CNRE", "30000")],
           outputs=[_out("BT-NDPR-OX-2501", "oxide", "3500", "kg", composition={"Pr": "680", "Nd": "2300"})]),
    _event("processing", "BT-SEP", "04-18", stage="metal_making", inputs=[_lot("BT-NDPR-OX-2501", "CNRE", "3500")],
           outputs=[_out("BT-NDPR-MT-2501", "metal", "2950", "kg", composition={"Pr": "670", "Nd": "2260"})]),
    _ship("BT-SEP", "05-01", _lot("BT-NDPR-MT-2501", "CNRE", "2950"), "JL-IN-2501", "JL-GZ"),
    _event("processing", "JL-GZ", "05-25", stage="magnet_making", inputs=[_lot("JL-IN-2501", "JLMAG", "2950")],
           outputs=[_out("JL-MAG-2501", "magnet", "8000", "pcs", composition={"Pr": "665", "Nd": "2250"})]),
    _ship("JL-GZ", "06-10", _lot("JL-MAG-2501", "JLMAG", "8000"), "MX-MAG-JL-2501", "ACME-MX"),
    _event("processing", "ACME-MX", "07-01", stage="manufacturing", inputs=[_lot("MX-MAG-JL-2501", "ACME", "8000")],
           outputs=[_out("MX-EBH-2501", "product", "4000", "pcs", sku="EBIKE-HUB-1")]),
    # Recycling: magnet scrap back to oxide in France, new magnets in Japan.
    _event("receipt", "LACQ", "03-15", reference="scrap delivery note 7781",
           outputs=[_out("LQ-SCRAP-2501", "magnet", "3000", "kg", composition={"Pr": "180", "Nd": "700", "Dy": "40"},
                         declared_origin=[{"route": {"mining": "recycled"}, "percent": "100"}])]),
    _event("processing", "LACQ", "04-10", stage="refining", inputs=[_lot("LQ-SCRAP-2501", "CARESTER", "3000")],
           outputs=[_out("LQ-OX-2501", "oxide", "1100", "kg", composition={"Pr": "175", "Nd": "690", "Dy": "38"})]),
    _ship("LACQ", "04-25", _lot("LQ-OX-2501", "CARESTER", "1100"), "TK-RC-2501", "TAKEFU"),
    _event("processing", "TAKEFU", "05-28", stage="magnet_making", inputs=[_lot("TK-RC-2501", "SHINETSU", "1100")],
           outputs=[_out("TK-MAG-RC-2501", "magnet", "3000", "pcs",
                         composition={"Pr": "172", "Nd": "684", "Dy": "37"})]),
    _ship("TAKEFU", "06-12", _lot("TK-MAG-RC-2501", "SHINETSU", "3000"), "TX-MAG-RC-2501", "ACME-TX"),
    _event("processing", "ACME-TX", "06-30", stage="manufacturing", inputs=[_lot("TX-MAG-RC-2501", "ACME", "3000")],
           outputs=[_out("TX-FAN-2501", "product", "1500", "pcs", sku="FAN-RC-3")]),
    # A trader's magnets, with only 70 % of their origin declared.
    _event("receipt", "ACME-MX", "06-15", reference="trader invoice TR-5521",
           outputs=[_out("MX-MAG-TRD-2501", "magnet", "1000", "pcs", composition={"Pr": "50", "Nd": "200", "Dy": "5"},
                         declared_origin=[{"route": {"mining": "AU", "refining": "MY", "metal_making": "JP",
                                                     "magnet_making": "JP"}, "percent": "70"}])]),
    _event("processing", "ACME-MX", "07-05", stage="manufacturing", inputs=[_lot("MX-MAG-TRD-2501", "ACME", "1000")],
           outputs=[_out("MX-PUMP-2501", "product", "500", "pcs", sku="PUMP-X9")]),
]  # fmt: skip


# Illustrative prices per kg of element contained, for the value-based rule (MOFCOM No. 61).
PRICES = [("Nd", "75"), ("Pr", "80"), ("Dy", "450"), ("Tb", "1400")]


def is_empty(session: Session) -> bool:
    return session.exec(select(Organization.pk)).first() is None


def load_demo(engine: Engine, tolerance: Fraction = Fraction(5, 1000)) -> bool:
    """Load the demo into an empty database in one transaction; False if there is data already."""
    with transaction(engine, write=True) as session:
        if not is_empty(session):
            return False
        for code, name, country in ORGANIZATIONS:
            create_organization(session, OrganizationCreate(code=code, name=name, country=country))
        for code, name, organization, country, stages in FACILITIES:
            create_facility(
                session,
                FacilityCreate(
                    code=code,
                    name=name,
                    organization=organization,
                    country=country,
                    stages=stages,  # type: ignore[arg-type]
                    gln=GLNS.get(code),
                ),
            )
        for sku, name, gtin in SKUS:
            create_sku(session, SkuCreate(sku=sku, name=name, organization="ACME", gtin=gtin))
        for body in EVENTS:
            record_event(session, EventCreate.model_validate(body), tolerance)
        for element, price in PRICES:
            body = {"element": element, "currency": "USD", "price_per_kg": price, "valid_from": "2025-01-01",
                    "source": "Lodestone demo: illustrative, not market data"}  # fmt: skip
            create_price(session, PriceCreate.model_validate(body))
    return True
