"""The auditor's pages for a SKU: the s.857 disclosure (JSON, CSV, HTML), the flows, and the report with its Sankey.

A hand-worked chain gives exact numbers: WIDGET has two production lots, P-1 (9 kg of Nd mined in
Australia, refined in China, assembled in the US) and P-2 (1.5 kg of Nd and 0.5 kg of Dy mined in
Myanmar, refined nobody has shown where, metal and magnet made in Japan). Over 11 kg the SKU is
9/11 = 81.818182 % Australian-mined, not the 50 % a mean of the lots' percents would give.
"""

import csv
import io
import itertools
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from service import origin as engine
from service import report
from service.api.disclosure import negotiate
from service.errors import NotAcceptable
from service.lots import stage_percents
from service.numbers import format_kg
from service.sankey import NODE_WIDTH, flow_graph, layout, svg
from service.schemas import DisclosureLot, DisclosureRead
from service.serving import stop_process_group
from tests.conftest import ADMIN_KEY
from tests.helpers import event, extract, lot_input, make_chain, post_ok

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "images" / "report.png"
STAGES4 = ("mining", "refining", "metal_making", "magnet_making")

WIDGET_STAGES = {
    "mining": {"AU": "81.818182", "MM": "18.181818"},
    "refining": {"CN": "81.818182", "unknown": "18.181818"},
    "metal_making": {"JP": "18.181818", "none": "81.818182"},
    "magnet_making": {"JP": "18.181818", "none": "81.818182"},
}
P1_STAGES = {
    "mining": {"AU": "100"},
    "refining": {"CN": "100"},
    "metal_making": {"none": "100"},
    "magnet_making": {"none": "100"},
}
P2_STAGES = {
    "mining": {"MM": "100"},
    "refining": {"unknown": "100"},
    "metal_making": {"JP": "100"},
    "magnet_making": {"JP": "100"},
}
WIDGET_NODES = {
    "mining:AU": "9", "mining:MM": "2", "refining:CN": "9", "refining:unknown": "2",
    "metal_making:none": "9", "metal_making:JP": "2", "magnet_making:none": "9", "magnet_making:JP": "2",
    "manufacturing:US": "11",
}  # fmt: skip
WIDGET_LINKS = {
    ("mining:AU", "refining:CN"): "9", ("mining:MM", "refining:unknown"): "2",
    ("refining:CN", "metal_making:none"): "9", ("refining:unknown", "metal_making:JP"): "2",
    ("metal_making:none", "magnet_making:none"): "9", ("metal_making:JP", "magnet_making:JP"): "2",
    ("magnet_making:none", "manufacturing:US"): "9", ("magnet_making:JP", "manufacturing:US"): "2",
}  # fmt: skip


def chain_one(client: TestClient) -> None:
    """P-1: Australian ore refined in China, assembled in the US: 9 kg of Nd."""
    extract(client, "ORE-1", "100", {"Nd": "10"})
    to_refinery = event(
        "transfer", "MINE", inputs=[lot_input("ORE-1", "100")], outputs=[{"code": "ORE-1R", "facility": "REF"}]
    )
    post_ok(client, "/v1/events", to_refinery)
    refine = event(
        "processing",
        "REF",
        stage="refining",
        inputs=[lot_input("ORE-1R", "100")],
        outputs=[{"code": "OX-1", "material": "oxide", "quantity": "12", "unit": "kg", "composition": {"Nd": "9"}}],
    )
    post_ok(client, "/v1/events", refine)
    ship = event("transfer", "REF", inputs=[lot_input("OX-1", "12")], outputs=[{"code": "OX-1P", "facility": "PLANT"}])
    post_ok(client, "/v1/events", ship)
    product = {"code": "P-1", "material": "product", "quantity": "10", "unit": "pcs", "sku": "WIDGET"}
    make = event(
        "processing", "PLANT", stage="manufacturing", inputs=[lot_input("OX-1P", "12", "MAKER")], outputs=[product]
    )
    post_ok(client, "/v1/events", make)


def chain_two(client: TestClient) -> None:
    """P-2: magnets received with Myanmar mining and Japanese metal and magnet making declared, refining not."""
    declared = [{"route": {"mining": "MM", "metal_making": "JP", "magnet_making": "JP"}, "percent": "100"}]
    magnets = {
        "code": "MAG-2",
        "material": "magnet",
        "quantity": "100",
        "unit": "pcs",
        "composition": {"Nd": "1.5", "Dy": "0.5"},
        "declared_origin": declared,
    }
    receipt = event("receipt", "PLANT", outputs=[magnets])
    post_ok(client, "/v1/events", receipt)
    product = {"code": "P-2", "material": "product", "quantity": "50", "unit": "pcs", "sku": "WIDGET"}
    make = event(
        "processing", "PLANT", stage="manufacturing", inputs=[lot_input("MAG-2", "100", "MAKER")], outputs=[product]
    )
    post_ok(client, "/v1/events", make)


@pytest.fixture
def widget(client: TestClient) -> TestClient:
    make_chain(client)
    chain_one(client)
    chain_two(client)
    return client


def get_json(client: TestClient, path: str, **params: str) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


# --------------------------------------------------------------------------------------------- JSON


def test_the_disclosure_of_two_lots_is_their_mass_weighted_sum(widget: TestClient) -> None:
    before = datetime.now(UTC)
    body = get_json(widget, "/v1/skus/WIDGET/disclosure")
    assert body["subject"] == {"kind": "sku", "sku": "WIDGET"}
    assert before <= datetime.fromisoformat(body["as_of"]) <= datetime.now(UTC)
    assert (body["total_kg"], body["lots_count"]) == ("11", 2)
    assert body["stages"] == WIDGET_STAGES
    assert list(body["stages"]) == list(STAGES4)
    lots = [(lot["code"], lot["organization"], lot["total_kg"], lot["stages"]) for lot in body["lots"]]
    assert lots == [("P-1", "MAKER", "9", P1_STAGES), ("P-2", "MAKER", "2", P2_STAGES)]
    assert "attestation" not in body
    # The same numbers the SKU answer gives for those stages: one arithmetic.
    answer = get_json(widget, "/v1/skus/WIDGET/origin")
    assert {stage: answer["stages_breakdown"][stage] for stage in STAGES4} == body["stages"]


def test_the_csv_has_a_row_per_scope_stage_and_country_matching_the_json(widget: TestClient) -> None:
    body = get_json(widget, "/v1/skus/WIDGET/disclosure")
    response = widget.get("/v1/skus/WIDGET/disclosure", headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["vary"] == "Accept"
    assert 'filename="WIDGET-disclosure.csv"' in response.headers["content-disposition"]
    assert response.text.endswith("\r\n")
    assert "\n" not in response.text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["scope", "lot_id", "lot_code", "organization", "stage", "country", "percent"]
    expected = [
        ["sku", "", "", "", stage, country, percent]
        for stage, values in body["stages"].items()
        for country, percent in values.items()
    ] + [
        ["lot", lot["id"], lot["code"], lot["organization"], stage, country, percent]
        for lot in body["lots"]
        for stage, values in lot["stages"].items()
        for country, percent in values.items()
    ]
    assert rows[1:] == expected
    assert ["sku", "", "", "", "refining", "unknown", "18.181818"] in rows
    assert len(rows) == 1 + 8 + 4 + 4


class Tables(HTMLParser):
    """The disclosure tables of a page: (scope, lot) -> {stage: {country: percent}}, from their data attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        self._current: tuple[str, str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "table" and "disclosure" in found.get("class", ""):
            self._current = (found["data-scope"], found.get("data-lot", ""))
            self.tables[self._current] = {}
        elif tag == "tr" and self._current is not None and "data-stage" in found:
            stages = self.tables[self._current].setdefault(found["data-stage"], {})
            if "data-country" in found:
                stages[found["data-country"]] = found["data-percent"]


def test_the_html_page_shows_the_sku_table_and_each_lots(widget: TestClient) -> None:
    body = get_json(widget, "/v1/skus/WIDGET/disclosure")
    response = widget.get("/v1/skus/WIDGET/disclosure", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert "US FY2023 NDAA s.857" in page
    assert "WIDGET" in page
    assert "@media print" in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    tables = Tables(page).tables
    assert tables[("sku", "")] == body["stages"]
    for lot in body["lots"]:
        assert tables[("lot", lot["id"])] == lot["stages"]
    assert "Myanmar (MM)" in page
    assert "nobody has shown where" in page


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("text/csv", "text/csv"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),  # a browser
        ("text/*", "text/html"),
        ("text/csv;q=0.5, application/json;q=0.1", "text/csv"),
        ("application/json;q=0, */*", "text/html"),
    ],
)
def test_the_accept_header_chooses_the_representation(accept: str | None, media: str) -> None:
    assert negotiate(accept, ("application/json", "text/html", "text/csv")) == media


@pytest.mark.parametrize("accept", ["image/png", "application/xml", "text/csv;q=0", "application/*;q=0, text/plain"])
def test_an_accept_header_nothing_matches_is_refused(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        negotiate(accept, ("application/json", "text/html", "text/csv"))


def test_an_unacceptable_accept_header_answers_406_problem(widget: TestClient) -> None:
    for path in ("disclosure", "flows", "report"):
        response = widget.get(f"/v1/skus/WIDGET/{path}", headers={"Accept": "image/png"})
        assert response.status_code == 406, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:lodestone:problem:not-acceptable"


# -------------------------------------------------------------------------------------------- flows


def test_the_flows_of_two_lots(widget: TestClient) -> None:
    body = get_json(widget, "/v1/skus/WIDGET/flows")
    assert (body["subject"], body["total_kg"], body["lots_count"]) == ({"kind": "sku", "sku": "WIDGET"}, "11", 2)
    assert {node["id"]: node["kg"] for node in body["nodes"]} == WIDGET_NODES
    assert {(link["source"], link["target"]): link["kg"] for link in body["links"]} == WIDGET_LINKS
    node = next(n for n in body["nodes"] if n["id"] == "refining:unknown")
    assert (node["stage"], node["country"], node["percent"]) == ("refining", "unknown", "18.181818")
    assert_flow_invariants(body)


def assert_flow_invariants(body: dict[str, Any]) -> None:
    """Every node's kilograms are its incoming links' (but at mining) and its outgoing links' (but at
    manufacturing); every stage's nodes sum to the total."""
    total = Decimal(body["total_kg"])
    incoming: dict[str, Decimal] = {}
    outgoing: dict[str, Decimal] = {}
    for link in body["links"]:
        incoming[link["target"]] = incoming.get(link["target"], Decimal(0)) + Decimal(link["kg"])
        outgoing[link["source"]] = outgoing.get(link["source"], Decimal(0)) + Decimal(link["kg"])
    for node in body["nodes"]:
        if node["stage"] != "mining":
            assert incoming[node["id"]] == Decimal(node["kg"]), node
        if node["stage"] != "manufacturing":
            assert outgoing[node["id"]] == Decimal(node["kg"]), node
    for stage in engine.STAGES:
        assert sum(Decimal(n["kg"]) for n in body["nodes"] if n["stage"] == stage) == total, stage


# ----------------------------------------------------------------------------------- the report page


class Drawing(HTMLParser):
    """The Sankey's nodes and links as the server wrote them: ``data-*`` attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.nodes: dict[str, str] = {}
        self.links: dict[tuple[str, str], str] = {}
        self.answer: dict[str, str] = {}
        self.rules: dict[str, str] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "data-node" in found:
            self.nodes[found["data-node"]] = found["data-kg"]
        if "data-link" in found:
            self.links[(found["data-source"], found["data-target"])] = found["data-kg"]
        if "data-answer" in found and "data-rule" not in found and "data-share-percent" in found:
            self.answer = found
        if "data-rule" in found:
            self.rules[found["data-rule"]] = found["data-answer"]


def test_the_report_shows_the_answer_the_rules_the_drawing_and_the_tables(widget: TestClient) -> None:
    response = widget.get("/v1/skus/WIDGET/report")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    drawing = Drawing(page)
    assert drawing.nodes == WIDGET_NODES
    assert drawing.links == WIDGET_LINKS
    answer = get_json(widget, "/v1/skus/WIDGET/origin")
    assert (drawing.answer["data-answer"], drawing.answer["data-share-percent"]) == ("yes", answer["share_percent"])
    today = datetime.now(UTC).date().isoformat()
    compliance = get_json(widget, "/v1/skus/WIDGET/compliance", on=today)
    assert drawing.rules == {result["rule"]: result["answer"] for result in compliance["results"]}
    assert drawing.rules, "no rule shown"
    disclosure = get_json(widget, "/v1/skus/WIDGET/disclosure")
    assert Tables(page).tables[("sku", "")] == disclosure["stages"]
    assert '<g class="node unknown" data-node="refining:unknown"' in page
    assert "<script" not in page
    assert "@media print" in page


def test_the_report_answers_the_rules_on_the_date_asked(demo: TestClient) -> None:
    before = Drawing(demo.get("/v1/skus/EV-MOTOR-200/report", params={"on": "2026-12-31"}).text).rules
    after = Drawing(demo.get("/v1/skus/EV-MOTOR-200/report", params={"on": "2027-01-01"}).text).rules
    assert (before["dfars-7052"], after["dfars-7052"]) == ("no", "yes")
    refused = demo.get("/v1/skus/EV-MOTOR-200/report", params={"on": "2027-02-30"})
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["on"]


def test_the_report_shows_the_first_lots_tables_and_says_where_the_rest_are() -> None:
    stages = {stage: {"AU": "100"} for stage in STAGES4}
    lots = [
        DisclosureLot(id=f"id-{i}", code=f"L-{i}", organization="ACME", total_kg="1", stages=stages) for i in range(60)
    ]
    disclosed = DisclosureRead(
        subject={"kind": "sku", "sku": "BIG"}, as_of=datetime.now(UTC), total_kg="60", lots_count=60,
        stages=stages, lots=lots,
    )  # fmt: skip
    shown = Tables(report.disclosure_tables(disclosed, "", report.REPORT_LOT_TABLES)).tables
    assert len(shown) == 1 + report.REPORT_LOT_TABLES
    assert "The first 50 of 60 production lots are shown" in report.disclosure_tables(disclosed, "", 50)
    assert len(Tables(report.disclosure_page(disclosed, datetime.now(UTC))).tables) == 61  # the disclosure: every lot
    page = report.disclosure_page(disclosed, datetime.now(UTC), attestation="att-123")
    assert '<code class="attestation">att-123</code>' in page


# --------------------------------------------------------------------------------- as_of, 404, roles


def test_as_of_answers_as_the_service_knew_then(client: TestClient) -> None:
    make_chain(client)
    chain_one(client)
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    chain_two(client)
    then = get_json(client, "/v1/skus/WIDGET/disclosure", as_of=between)
    assert datetime.fromisoformat(then["as_of"]) == datetime.fromisoformat(between)
    assert (then["total_kg"], then["lots_count"], then["stages"]) == ("9", 1, P1_STAGES)
    flows = get_json(client, "/v1/skus/WIDGET/flows", as_of=between)
    assert {node["id"] for node in flows["nodes"]} == {
        "mining:AU",
        "refining:CN",
        "metal_making:none",
        "magnet_making:none",
        "manufacturing:US",
    }
    report = client.get("/v1/skus/WIDGET/report", params={"as_of": between})
    assert report.status_code == 200, report.text
    assert set(Drawing(report.text).nodes) == {node["id"] for node in flows["nodes"]}
    assert get_json(client, "/v1/skus/WIDGET/disclosure")["lots_count"] == 2


@pytest.mark.parametrize("path", ["disclosure", "flows", "report"])
def test_an_unknown_sku_is_404_and_a_bad_as_of_422(widget: TestClient, path: str) -> None:
    missing = widget.get(f"/v1/skus/NO-SUCH-SKU/{path}")
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "2999-01-01T00:00:00Z"):
        refused = widget.get(f"/v1/skus/WIDGET/{path}", params={"as_of": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["as_of"], refused.text
    early = widget.get(f"/v1/skus/WIDGET/{path}", params={"as_of": "2000-01-01T00:00:00Z"})
    assert early.status_code == 404, early.text  # the SKU was not registered yet


def test_a_sku_without_production_lots_discloses_nothing_and_says_so(client: TestClient) -> None:
    make_chain(client)
    body = get_json(client, "/v1/skus/WIDGET/disclosure")
    assert (body["stages"], body["lots"], body["lots_count"], body["total_kg"]) == (
        {stage: {} for stage in STAGES4},
        [],
        0,
        "0",
    )
    csv_text = client.get("/v1/skus/WIDGET/disclosure", headers={"Accept": "text/csv"}).text
    assert csv_text == "scope,lot_id,lot_code,organization,stage,country,percent\r\n"
    page = client.get("/v1/skus/WIDGET/disclosure", headers={"Accept": "text/html"}).text
    assert "No production lots are recorded for this SKU" in page
    flows = get_json(client, "/v1/skus/WIDGET/flows")
    assert (flows["nodes"], flows["links"], flows["total_kg"], flows["lots_count"]) == ([], [], "0", 0)
    report = client.get("/v1/skus/WIDGET/report")
    assert report.status_code == 200, report.text
    assert "No production lots: no rare earths to draw." in report.text
    assert Drawing(report.text).answer["data-answer"] == "unknown"


def test_readers_may_read_all_three(widget: TestClient) -> None:
    created = post_ok(widget, "/v1/api-keys", {"organization": "MINER", "role": "viewer", "name": "portal"})
    viewer = {"Authorization": f"Bearer {created['key']}"}
    for path in ("disclosure", "flows", "report"):
        assert widget.get(f"/v1/skus/WIDGET/{path}", headers=viewer).status_code == 200, path
        anonymous = widget.get(f"/v1/skus/WIDGET/{path}", headers={"Authorization": ""})
        assert anonymous.status_code == 401, path


def test_openapi_documents_each_media_type_with_an_example(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    media = {
        "/v1/skus/{sku}/disclosure": {"application/json", "text/csv", "text/html"},
        "/v1/skus/{sku}/flows": {"application/json"},
        "/v1/skus/{sku}/report": {"text/html"},
    }
    for path, types in media.items():
        operation = paths[path]["get"]
        assert operation["summary"], path
        assert operation["description"], path
        content = operation["responses"]["200"]["content"]
        assert set(content) == types, path
        assert all(content[t].get("example") for t in types), path
        assert {"401", "403", "404", "406", "422"} <= set(operation["responses"]), path
        assert "as_of" in {p["name"] for p in operation["parameters"]}, path


# ------------------------------------------------------------------------------ the pure functions

COUNTRIES = st.sampled_from(["AU", "CN", "MY", "JP", "US", engine.UNKNOWN, engine.NONE])
ROUTES = st.dictionaries(
    st.tuples(st.sampled_from(["AU", "CN", engine.RECYCLED, engine.UNKNOWN]), COUNTRIES, COUNTRIES, COUNTRIES,
              st.sampled_from(["US", "MX", engine.UNKNOWN])),
    st.fractions(min_value=Fraction(1, 10**6), max_value=10**6),
    max_size=30,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(ROUTES)
def test_flows_conserve_mass_at_every_node_and_stage(routes: dict[engine.Route, Fraction]) -> None:
    flows = flow_graph(routes)
    total = sum(routes.values(), Fraction(0))
    assert flows.total == total
    incoming: dict[str, Fraction] = {}
    outgoing: dict[str, Fraction] = {}
    for link in flows.links:
        source_stage, target_stage = link.source.partition(":")[0], link.target.partition(":")[0]
        assert engine.stage_index(target_stage) == engine.stage_index(source_stage) + 1
        incoming[link.target] = incoming.get(link.target, Fraction(0)) + link.kg
        outgoing[link.source] = outgoing.get(link.source, Fraction(0)) + link.kg
    for node in flows.nodes:
        if node.stage != "mining":
            assert incoming[node.id] == node.kg
        if node.stage != "manufacturing":
            assert outgoing[node.id] == node.kg
    for stage in engine.STAGES:
        assert sum((n.kg for n in flows.nodes if n.stage == stage), Fraction(0)) == total
    # Each stage's nodes are the disclosure's percents, from the same marginals.
    if total:
        percents = stage_percents(routes)
        assert {n.id for n in flows.nodes} == {f"{s}:{v}" for s, values in percents.items() for v in values}


@settings(max_examples=100, deadline=None)
@given(ROUTES)
def test_the_drawing_stacks_bands_exactly_inside_their_nodes(routes: dict[engine.Route, Fraction]) -> None:
    flows = flow_graph(routes)
    drawn = layout(flows)
    nodes = {placed.node.id: placed for placed in drawn.nodes}
    assert set(nodes) == {node.id for node in flows.nodes}
    for stage in engine.STAGES:
        column = sorted((p for p in drawn.nodes if p.node.stage == stage), key=lambda p: p.y)
        for upper, lower in itertools.pairwise(column):
            assert lower.y - (upper.y + upper.height) >= 16  # room for a label line between nodes
        if column:
            assert column[-1].y + column[-1].height <= drawn.height
    for band in drawn.links:
        source, target = nodes[band.link.source], nodes[band.link.target]
        assert band.source_x == source.x + NODE_WIDTH
        assert band.target_x == target.x
        assert source.y <= band.source_y
        assert band.source_y + band.width <= source.y + source.height
        assert target.y <= band.target_y
        assert band.target_y + band.width <= target.y + target.height
        if flows.total:
            assert band.width / band.link.kg == source.height / source.node.kg  # one scale for every band and node
    written = svg(flows)
    assert written.count("data-node=") == len(flows.nodes)
    assert written.count("data-link=") == len(flows.links)
    for node in flows.nodes:
        attributes = f'data-node="{node.id}" data-stage="{node.stage}" data-country="{node.value}" '
        assert f'{attributes}data-kg="{format_kg(node.kg)}"' in written


def test_a_drawing_stays_readable_with_forty_countries_in_a_column() -> None:
    countries = [f"{a}{b}" for a in "ABCD" for b in "ABCDEFGHIJ"]  # 40 codes; any text works as a route value
    routes: dict[engine.Route, Fraction] = {
        (c, "CN", "JP", "JP", "US"): Fraction(i + 1, 1000) for i, c in enumerate(countries)
    }
    flows = flow_graph(routes)
    drawn = layout(flows)
    mining = sorted((p for p in drawn.nodes if p.node.stage == "mining"), key=lambda p: p.y)
    assert len(mining) == 40
    assert all(lower.y - upper.y >= 16 for upper, lower in itertools.pairwise(mining))
    assert drawn.height < 1200


# ------------------------------------------------------------------------ headless Chromium, over CDP


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no
    websocket library, and the API key goes in a request header (``Network.setExtraHTTPHeaders``),
    never in a URL."""

    def __init__(self, executable: Path, profile: Path, flags: tuple[str, ...]) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        self.process = subprocess.Popen(
            [str(executable), *flags, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=lambda: _onto_3_and_4(commands_read, replies_write),
            start_new_session=True,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def send(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, seen in enumerate(self.events):
                if seen.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._replies], [], [], remaining)[0]:
                raise AssertionError("Chromium did not answer over the DevTools pipe in time")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise AssertionError("Chromium closed the DevTools pipe (did it crash?)")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def open_page(self, width: int, height: int, headers: dict[str, str]) -> None:
        """Attach to the first page, size its viewport and send ``headers`` with every request it makes."""
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Network.setExtraHTTPHeaders", headers=headers)
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def navigate(self, url: str) -> None:
        self.events.clear()
        result = self.send("Page.navigate", url=url)
        assert "errorText" not in result, f"{url}: {result}"
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.session = ""
            self.send("Browser.close", timeout=10)
        except (AssertionError, OSError):
            pass
        stop_process_group(self.process, grace=5)
        os.close(self._commands)
        os.close(self._replies)


def _onto_3_and_4(commands: int, replies: int) -> None:
    """In the child: the pipe ends onto fds 3 and 4, via fds no lower than 5 so neither clobbers the other."""
    import fcntl

    high_commands = fcntl.fcntl(commands, fcntl.F_DUPFD, 5)
    high_replies = fcntl.fcntl(replies, fcntl.F_DUPFD, 5)
    os.dup2(high_commands, 3, inheritable=True)
    os.dup2(high_replies, 4, inheritable=True)


READ_THE_DRAWING = """(() => {
  const svg = document.querySelector('svg.sankey');
  const box = svg.getBoundingClientRect();
  const nodes = [...svg.querySelectorAll('[data-node]')].map(g => {
    const r = g.querySelector('rect').getBBox();
    return {id: g.dataset.node, kg: g.dataset.kg, height: r.height, x: r.x, y: r.y,
            label: g.querySelector('text').textContent, title: g.querySelector('title').textContent};
  });
  const links = [...svg.querySelectorAll('[data-link]')].map(p => {
    const b = p.getBBox();
    return {source: p.dataset.source, target: p.dataset.target, kg: p.dataset.kg, width: b.width, height: b.height};
  });
  const answer = document.querySelector('.answer');
  return {width: box.width, height: box.height, nodes, links,
          answer: answer.dataset.answer, share: answer.dataset.sharePercent,
          badge: answer.querySelector('.badge').textContent,
          rules: [...document.querySelectorAll('tr[data-rule]')].map(r => r.dataset.rule),
          tables: document.querySelectorAll('table.disclosure').length};
})()"""


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Any]:
    from tests.servers import run_lodestone, running_server

    url = f"sqlite:///{tmp_path / 'lodestone.db'}"
    loaded = run_lodestone(url, "demo")
    assert loaded.returncode == 0, loaded.stderr
    with running_server(url, tmp_path, workers=1) as server:
        yield server


@pytest.mark.browser
def test_the_demo_report_renders_in_headless_chromium_as_flows_and_origin_say(demo_server: Any, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is not installed, and CI is set: the report's browser test must run")
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install -y chromium); in CI (CI set) this test fails instead"
        )
    from tests.test_docs import _render_script

    flags: tuple[str, ...] = _render_script().CHROMIUM_FLAGS
    with httpx.Client(base_url=demo_server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        flows = api.get("/v1/skus/EV-MOTOR-200/flows").json()
        origin = api.get("/v1/skus/EV-MOTOR-200/origin").json()
        assert api.get("/v1/skus/EV-MOTOR-200/report", headers={"Authorization": ""}).status_code == 401
    browser = DevTools(CHROMIUM, tmp_path / "chromium", flags)
    try:
        browser.open_page(1100, 1500, {"Authorization": f"Bearer {ADMIN_KEY}"})
        browser.navigate(f"{demo_server.base_url}/v1/skus/EV-MOTOR-200/report")
        seen = browser.evaluate(READ_THE_DRAWING)
        assert seen["width"] > 500, seen
        assert seen["height"] > 300, seen
        assert {n["id"]: n["kg"] for n in seen["nodes"]} == {n["id"]: n["kg"] for n in flows["nodes"]}
        assert sorted((k["source"], k["target"], k["kg"]) for k in seen["links"]) == sorted(
            (k["source"], k["target"], k["kg"]) for k in flows["links"]
        )
        # Drawn to scale: every node's height over its kilograms is the same.
        scales = {round(n["height"] / float(n["kg"]), 3) for n in seen["nodes"] if n["height"] > 2}
        assert len(scales) == 1, seen["nodes"]
        assert any(n["label"].startswith("CN 28.8 kg") for n in seen["nodes"]), seen["nodes"]
        assert (seen["answer"], seen["share"]) == (origin["answer"], origin["share_percent"]) == ("yes", "2.436961")
        assert seen["badge"] == "Yes"
        assert seen["rules"]
        assert seen["tables"] == 2
        # The header, the answer, the rules and the drawing, at 70 %: small enough to commit for the README.
        clip = {"x": 0, "y": 0, "width": 1100, "height": 1960, "scale": 0.7}
        shot = browser.send("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
    finally:
        browser.close()
    import base64

    png = base64.b64decode(shot)
    assert png.startswith(b"\x89PNG")
    (tmp_path / "report.png").write_bytes(png)
    if os.environ.get("LODESTONE_WRITE_REPORT_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(png)
