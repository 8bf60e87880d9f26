"""Where a SKU's rare earths flowed, stage by stage: the graph of its routes, and its drawing as inline SVG.

The graph is exact (kilograms as fractions). The drawing is a Sankey diagram in five columns, one per
stage: a node's height and a band's width are proportional to kilograms, bands are filled cubic Bézier
shapes. Positions are computed exactly too and only rounded to hundredths of a pixel when written, and
every node and band carries its exact kilograms in ``data-kg``, so a test reads the drawing's numbers
back from the DOM. No script and no external resource: the page stays printable and offline.
"""

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import iso3166

from service import origin as engine
from service.numbers import format_decimal, format_kg, format_share

STAGE_TITLES: dict[str, str] = {
    "mining": "Mined",
    "refining": "Refined (oxides)",
    "metal_making": "Metal and alloy",
    "magnet_making": "Magnet made",
    "manufacturing": "Product made",
}


@dataclass(frozen=True)
class FlowNode:
    """The rare-earth kilograms whose route has ``value`` at ``stage``."""

    stage: str
    value: str
    kg: Fraction

    @property
    def id(self) -> str:
        return node_id(self.stage, self.value)


@dataclass(frozen=True)
class FlowLink:
    """The kilograms whose route has the source's value at one stage and the target's at the next."""

    source: str
    target: str
    kg: Fraction


@dataclass(frozen=True)
class Flows:
    """Routes as a graph of five columns: nodes are stage values, links join consecutive stages."""

    nodes: tuple[FlowNode, ...]  # in stage order, then largest first
    links: tuple[FlowLink, ...]  # in the order of their source nodes, then largest first
    total: Fraction


def node_id(stage: str, value: str) -> str:
    return f"{stage}:{value}"


def flow_graph(routes: Mapping[engine.Route, Fraction]) -> Flows:
    """Each stage value's kilograms (``stage_marginals``) and each pair of consecutive values' kilograms.

    A node's kilograms equal the sum of its incoming links (but at mining) and of its outgoing links
    (but at manufacturing), and every stage's nodes sum to the total: each route passes each stage once.
    """
    positive = {route: kg for route, kg in routes.items() if kg > 0}
    nodes = [
        FlowNode(stage, value, kg)
        for stage, values in engine.stage_marginals(positive).items()
        for value, kg in sorted(values.items(), key=lambda item: (-item[1], item[0]))
    ]
    pairs: dict[tuple[str, str], Fraction] = {}
    for route, kg in positive.items():
        for i in range(len(engine.STAGES) - 1):
            pair = (node_id(engine.STAGES[i], route[i]), node_id(engine.STAGES[i + 1], route[i + 1]))
            pairs[pair] = pairs.get(pair, Fraction(0)) + kg
    order = {node.id: i for i, node in enumerate(nodes)}
    ordered = sorted(pairs.items(), key=lambda item: (order[item[0][0]], -item[1], order[item[0][1]]))
    links = [FlowLink(source, target, kg) for (source, target), kg in ordered]
    return Flows(nodes=tuple(nodes), links=tuple(links), total=sum(positive.values(), Fraction(0)))


# ---------------------------------------------------------------------------------------------- layout

WIDTH = 1100
NODE_WIDTH = 14
MARGIN = 8
LABEL_ROOM = 170  # right of the last column: labels are always right of their node
HEADER = 34  # the stage titles above the columns
MASS_HEIGHT = 360  # pixels the whole mass takes in a column
GAP = 16  # at least this between two nodes of a column: one label line, so labels never overlap
FOOTER = 8


@dataclass(frozen=True)
class PlacedNode:
    node: FlowNode
    x: Fraction
    y: Fraction
    height: Fraction


@dataclass(frozen=True)
class PlacedLink:
    link: FlowLink
    source_x: Fraction  # the right edge of the source node
    source_y: Fraction  # the band's top at the source
    target_x: Fraction  # the left edge of the target node
    target_y: Fraction  # the band's top at the target
    width: Fraction


@dataclass(frozen=True)
class Layout:
    width: int
    height: Fraction
    columns: tuple[Fraction, ...]  # each stage's x
    nodes: tuple[PlacedNode, ...]
    links: tuple[PlacedLink, ...]


def layout(flows: Flows) -> Layout:
    """Columns left to right in stage order; in each, nodes ordered by where their mass comes from.

    The first column is largest first; every later node sits at the mass-weighted mean position of
    the nodes feeding it (fewer crossing bands), ties largest first. Every column spreads its nodes
    over the same height, at least ``GAP`` apart.
    """
    stages = engine.STAGES
    step = Fraction(WIDTH - 2 * MARGIN - NODE_WIDTH - LABEL_ROOM, len(stages) - 1)
    columns = tuple(MARGIN + i * step for i in range(len(stages)))
    by_stage: dict[str, list[FlowNode]] = {stage: [] for stage in stages}
    for node in flows.nodes:
        by_stage[node.stage].append(node)
    most = max((len(nodes) for nodes in by_stage.values()), default=0)
    plot = MASS_HEIGHT + GAP * max(most - 1, 0)
    height = HEADER + plot + FOOTER
    if not flows.total:
        return Layout(WIDTH, Fraction(height), columns, (), ())
    scale = Fraction(MASS_HEIGHT) / flows.total
    incoming: dict[str, list[FlowLink]] = {}
    for link in flows.links:
        incoming.setdefault(link.target, []).append(link)
    centre: dict[str, Fraction] = {}
    placed: dict[str, PlacedNode] = {}
    for i, stage in enumerate(stages):
        nodes = by_stage[stage]
        if i:
            nodes = sorted(nodes, key=lambda n: (_barycentre(incoming.get(n.id, []), centre), -n.kg, n.value))
        heights = [node.kg * scale for node in nodes]
        spare = plot - sum(heights, Fraction(0))
        gap = spare / (len(nodes) - 1) if len(nodes) > 1 else Fraction(0)
        y = HEADER + (spare / 2 if len(nodes) == 1 else Fraction(0))
        for node, node_height in zip(nodes, heights, strict=True):
            placed[node.id] = PlacedNode(node, columns[i], y, node_height)
            centre[node.id] = y + node_height / 2
            y += node_height + gap
    return Layout(WIDTH, Fraction(height), columns, tuple(placed.values()), _placed_links(flows, placed, scale))


def _barycentre(links: Sequence[FlowLink], centre: Mapping[str, Fraction]) -> Fraction:
    mass = sum((link.kg for link in links), Fraction(0))
    return sum((centre[link.source] * link.kg for link in links), Fraction(0)) / mass if mass else Fraction(0)


def _placed_links(flows: Flows, placed: Mapping[str, PlacedNode], scale: Fraction) -> tuple[PlacedLink, ...]:
    """Bands stacked down each node in the order of the nodes at their other end, so they do not cross there."""
    out_offset = {node_id: node.y for node_id, node in placed.items()}
    in_offset = dict(out_offset)
    source_y: dict[int, Fraction] = {}
    target_y: dict[int, Fraction] = {}
    links = list(enumerate(flows.links))
    for i, link in sorted(links, key=lambda item: (placed[item[1].source].x, placed[item[1].target].y)):
        source_y[i] = out_offset[link.source]
        out_offset[link.source] += link.kg * scale
    for i, link in sorted(links, key=lambda item: (placed[item[1].target].x, placed[item[1].source].y)):
        target_y[i] = in_offset[link.target]
        in_offset[link.target] += link.kg * scale
    return tuple(
        PlacedLink(
            link=link,
            source_x=placed[link.source].x + NODE_WIDTH,
            source_y=source_y[i],
            target_x=placed[link.target].x,
            target_y=target_y[i],
            width=link.kg * scale,
        )
        for i, link in links
    )


# ---------------------------------------------------------------------------------------------- drawing

# Okabe-Ito and Tableau hues without red (the asked countries) and green (recycled), for other countries.
PALETTE = ("#0072b2", "#e69f00", "#56b4e9", "#cc79a7", "#8c564b", "#17becf", "#9467bd", "#bcbd22", "#f0a0a0")
HIGHLIGHT = "#c0392b"
RECYCLED_COLOUR = "#2e8b57"
NONE_COLOUR = "#c8ccd0"
UNKNOWN_COLOUR = "#5f6368"

STYLE = """
.sankey { font: 12px system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 100%; height: auto; }
.sankey .stage { font-weight: 600; font-size: 12px; fill: #1f2328; }
.sankey .link { fill-opacity: .38; stroke: none; }
.sankey .link:hover { fill-opacity: .65; }
.sankey .node rect { stroke: #1f2328; stroke-width: .6; }
.sankey .node.unknown rect { stroke: #1f2328; stroke-width: 1.2; stroke-dasharray: 3 2; }
.sankey .label { fill: #1f2328; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.sankey .unknown .label { font-style: italic; }
"""


def px(value: Fraction | int) -> str:
    """A coordinate in hundredths of a pixel, rounded half-even."""
    return format_decimal(Decimal(round(Fraction(value) * 100)) / 100)


def country_name(value: str) -> str:
    """``Australia (AU)``; route values that are not countries as they are."""
    country = iso3166.countries_by_alpha2.get(value)
    return f"{country.name} ({value})" if country is not None else value


def short_percent(kg: Fraction, total: Fraction) -> str:
    """A label's percent: two decimals, and ``<0.01`` rather than a zero for a trace."""
    percent = 100 * kg / total
    if 0 < percent < Fraction(1, 100):
        return "<0.01"
    return format_decimal(Decimal(round(percent * 100)) / 100)


def short_kg(kg: Fraction) -> str:
    """A label's kilograms: three decimals, and ``<0.001`` rather than a zero for a trace."""
    if 0 < kg < Fraction(1, 1000):
        return "<0.001"
    return format_decimal(Decimal(round(kg * 1000)) / 1000)


def colours(flows: Flows, highlight: Sequence[str]) -> dict[str, str]:
    """A fill per stage value: asked countries red, other countries from the palette in order of first
    appearance (the same country the same colour in every column), ``unknown`` hatched."""
    chosen: dict[str, str] = {engine.UNKNOWN: "url(#sankey-unknown)", engine.NONE: NONE_COLOUR}
    chosen[engine.RECYCLED] = RECYCLED_COLOUR
    chosen |= dict.fromkeys(highlight, HIGHLIGHT)
    following = 0
    for node in flows.nodes:
        if node.value not in chosen:
            chosen[node.value] = PALETTE[following % len(PALETTE)]
            following += 1
    return chosen


def _link_colour(fill: str) -> str:
    return UNKNOWN_COLOUR if fill.startswith("url(") else fill


def svg(flows: Flows, highlight: Sequence[str] = ("CN",), title: str = "Flow of rare earths by stage") -> str:
    """The Sankey diagram of the flows as an ``<svg>`` element, sized by its viewBox to fit any page."""
    placed = layout(flows)
    fills = colours(flows, highlight)
    esc = html.escape
    parts = [
        f'<svg class="sankey" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="sankey-title" '
        f'viewBox="0 0 {placed.width} {px(placed.height)}" width="{placed.width}" height="{px(placed.height)}" '
        f'data-total-kg="{esc(format_kg(flows.total))}">',
        f'<title id="sankey-title">{esc(title)}</title>',
        "<defs>"
        '<pattern id="sankey-unknown" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#eceff1"/><rect width="2.5" height="6" fill="{UNKNOWN_COLOUR}"/>'
        "</pattern></defs>",
    ]
    for i, stage in enumerate(engine.STAGES):
        parts.append(f'<text class="stage" x="{px(placed.columns[i])}" y="16">{esc(STAGE_TITLES[stage])}</text>')
    if not flows.total:
        middle = f'x="{px(Fraction(WIDTH, 2))}" y="{px(placed.height / 2)}"'
        parts.append(f'<text {middle} text-anchor="middle">No production lots: no rare earths to draw.</text>')
    for band in placed.links:
        link = band.link
        source = link.source.partition(":")[2]
        xm = (band.source_x + band.target_x) / 2
        s0, s1 = band.source_y, band.source_y + band.width
        t0, t1 = band.target_y, band.target_y + band.width
        path = (
            f"M{px(band.source_x)},{px(s0)} C{px(xm)},{px(s0)} {px(xm)},{px(t0)} {px(band.target_x)},{px(t0)} "
            f"L{px(band.target_x)},{px(t1)} C{px(xm)},{px(t1)} {px(xm)},{px(s1)} {px(band.source_x)},{px(s1)} Z"
        )
        kg = format_kg(link.kg)
        tooltip = (
            f"{_describe(link.source)} → {_describe(link.target)}: {kg} kg "
            f"({format_share(link.kg, flows.total)} % of the rare earths)"
        )
        parts.append(
            f'<path class="link" d="{path}" fill="{_link_colour(fills[source])}" '
            f'data-link="{esc(link.source)}->{esc(link.target)}" data-source="{esc(link.source)}" '
            f'data-target="{esc(link.target)}" data-kg="{esc(kg)}"><title>{esc(tooltip)}</title></path>'
        )
    for item in placed.nodes:
        node = item.node
        kg = format_kg(node.kg)
        percent = format_share(node.kg, flows.total)
        tooltip = f"{_describe(node.id)}: {kg} kg ({percent} % of the rare earths)"
        label = f"{node.value} {short_kg(node.kg)} kg · {short_percent(node.kg, flows.total)} %"
        kind = "unknown" if node.value == engine.UNKNOWN else "known"
        drawn = max(item.height, Fraction(1))  # a trace is still seen
        parts.append(
            f'<g class="node {kind}" data-node="{esc(node.id)}" data-stage="{node.stage}" '
            f'data-country="{esc(node.value)}" data-kg="{esc(kg)}" data-percent="{esc(percent)}">'
            f"<title>{esc(tooltip)}</title>"
            f'<rect x="{px(item.x)}" y="{px(item.y)}" width="{NODE_WIDTH}" height="{px(drawn)}" '
            f'fill="{fills[node.value]}"/>'
            f'<text class="label" x="{px(item.x + NODE_WIDTH + 4)}" y="{px(item.y + item.height / 2)}" dy=".35em">'
            f"{esc(label)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _describe(node: str) -> str:
    stage, _, value = node.partition(":")
    return f"{stage.replace('_', ' ')}: {country_name(value)}"
