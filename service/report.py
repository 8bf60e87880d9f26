"""The auditor's pages as files: the s.857 disclosure in CSV and HTML, and the printable report of a SKU.

Pure functions of the answers already computed (``service.disclosure``): nothing here reads the
database or computes a number; every figure shown is a string an answer already carries. The pages
load nothing (inline CSS and SVG, no script), so they print and archive as they are.
"""

import csv
import html
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from service import sankey
from service.disclosure import Report
from service.schemas import AssessmentRead, ComplianceRead
from service.schemas.disclosure import DisclosureRead

CSV_COLUMNS = ("scope", "lot_id", "lot_code", "organization", "stage", "country", "percent")
STAGE_NAMES: dict[str, str] = {
    "mining": "Mined",
    "refining": "Refined into oxides",
    "metal_making": "Made into metal or alloy",
    "magnet_making": "Made into a magnet",
    "manufacturing": "Made into the product",
}
VALUE_NOTES = {
    "unknown": "nobody has shown where",
    "none": "did not go through this stage",
    "recycled": "recycled material",
}
ANSWER_WORDS = {"yes": "Yes", "no": "No", "unknown": "Unknown"}
# The report shows this many lots' own tables; the disclosure itself (JSON, CSV, HTML) lists every lot.
REPORT_LOT_TABLES = 50

STYLE = """
@page { size: A4; margin: 14mm; }
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #fff;
       max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 .6rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 .5rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: 0; }
.facts dt { color: #57606a; }
.facts dd { margin: 0; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.unknown td { font-style: italic; background: #fff8c5; }
.answer { display: flex; gap: 1.2rem; align-items: center; border: 1px solid #d0d7de; border-radius: 6px;
          padding: .8rem 1rem; }
.badge { font-weight: 700; font-size: 1.3rem; padding: .2rem .9rem; border-radius: 4px; color: #fff; }
.badge.yes { background: #c0392b; } .badge.no { background: #1a7f37; } .badge.unknown { background: #9a6700; }
.small { color: #57606a; font-size: .9rem; }
.legend span { display: inline-block; margin-right: 1rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; vertical-align: -.1rem; margin-right: .3rem;
          border: 1px solid #1f2328; }
.swatch.unknown { background: repeating-linear-gradient(45deg, #5f6368 0 2px, #eceff1 2px 5px);
                  border-style: dashed; }
.figure { overflow-x: auto; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; }
  section, table, .answer, .figure { break-inside: avoid; }
  .figure { overflow: visible; }
  .badge, .swatch, tr.unknown td { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""

esc = html.escape


def when(moment: datetime) -> str:
    """A moment as RFC 3339 in UTC, to the microsecond it was given."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------ CSV


def disclosure_csv(disclosure: DisclosureRead) -> str:
    """One row per scope (the SKU, then each lot) x stage x country; RFC 4180 (CRLF, quoted where needed).

    A lot the reader may not see has an empty id and code, like the SKU's own rows.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for stage, values in disclosure.stages.items():
        for value, percent in values.items():
            writer.writerow(("sku", "", "", "", stage, value, percent))
    for lot in disclosure.lots:
        for stage, values in lot.stages.items():
            for value, percent in values.items():
                writer.writerow(("lot", lot.id or "", lot.code or "", lot.organization, stage, value, percent))
    return out.getvalue()


# ----------------------------------------------------------------------------------------------- HTML


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}{sankey.STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _facts(items: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{esc(term)}</dt><dd>{text}</dd>" for term, text in items)
    return f'<dl class="facts">{rows}</dl>\n'


def _largest_first(values: Mapping[str, str]) -> list[tuple[str, str]]:
    return sorted(values.items(), key=lambda item: (-Decimal(item[1]), item[0]))


def stage_table(stages: Mapping[str, Mapping[str, str]], scope: str, lot_id: str = "") -> str:
    """Each stage's countries, largest first, as a table a test or an auditor can read row by row."""
    rows = []
    for stage, values in stages.items():
        ordered = _largest_first(values) or [("", "")]
        for i, (value, percent) in enumerate(ordered):
            head = f'<th scope="row" rowspan="{len(ordered)}">{esc(STAGE_NAMES[stage])}</th>' if i == 0 else ""
            if not value:
                rows.append(f'<tr data-stage="{stage}">{head}<td colspan="2">no rare earths</td></tr>')
                continue
            note = f' <span class="small">({esc(VALUE_NOTES[value])})</span>' if value in VALUE_NOTES else ""
            rows.append(
                f'<tr class="{"unknown" if value == "unknown" else "known"}" data-stage="{stage}" '
                f'data-country="{esc(value)}" data-percent="{esc(percent)}">{head}'
                f"<td>{esc(sankey.country_name(value))}{note}</td>"
                f'<td class="number">{esc(percent)} %</td></tr>'
            )
    lot = f' data-lot="{esc(lot_id)}"' if lot_id else ""
    return (
        f'<table class="disclosure" data-scope="{scope}"{lot}>\n'
        "<thead><tr><th>Stage</th><th>Country</th><th>Percent of the rare-earth mass</th></tr></thead>\n"
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n"
    )


def _lots(count: int) -> str:
    return "1 production lot" if count == 1 else f"{count} production lots"


def disclosure_tables(disclosure: DisclosureRead, heading: str, lot_tables: int | None = None) -> str:
    if not disclosure.lots:
        return (
            f'{heading}<p class="empty">No production lots are recorded for this SKU, so there is nothing to '
            "disclose: nobody has shown where its rare earths came from.</p>\n"
        )
    parts = [
        heading,
        f"<h3>SKU {esc(disclosure.subject['sku'])}: {_lots(disclosure.lots_count)}, "
        f"{esc(disclosure.total_kg)} kg of rare earths, mass-weighted</h3>\n",
        stage_table(disclosure.stages, "sku"),
    ]
    shown = disclosure.lots if lot_tables is None else disclosure.lots[:lot_tables]
    for lot in shown:
        if lot.id is None or lot.code is None:
            # A lot the reader may not see: its organization and figures, never its id or code.
            parts.append(
                f"<h3>A lot of {esc(lot.organization)} "
                f'<span class="small">({esc(lot.total_kg)} kg of rare earths)</span></h3>\n'
            )
        else:
            parts.append(
                f"<h3>Lot {esc(lot.code)} of {esc(lot.organization)} "
                f'<span class="small">({esc(lot.total_kg)} kg of rare earths; id {esc(lot.id)})</span></h3>\n'
            )
        parts.append(stage_table(lot.stages, "lot", lot.id or ""))
    if len(shown) < len(disclosure.lots):
        parts.append(
            f'<p class="more">The first {len(shown)} of {len(disclosure.lots)} production lots are shown; the '
            "disclosure (<code>GET /v1/skus/{sku}/disclosure</code>, as JSON, CSV or HTML) lists every one.</p>\n"
        )
    return "".join(parts)


def disclosure_page(disclosure: DisclosureRead, generated_at: datetime, attestation: str | None = None) -> str:
    """The s.857 disclosure as a printable page; ``attestation``, when the disclosure was signed, is shown with it."""
    sku = disclosure.subject["sku"]
    facts = [
        ("SKU", f"<strong>{esc(sku)}</strong>"),
        ("Generated", esc(when(generated_at))),
        ("As of", f"<time>{esc(when(disclosure.as_of))}</time> (what the service knew then)"),
        ("Production lots", str(disclosure.lots_count)),
        ("Rare earths", f"{esc(disclosure.total_kg)} kg"),
    ]
    if attestation is not None:
        facts.append(("Attestation", f'<code class="attestation">{esc(attestation)}</code>'))
    body = (
        "<header>\n<h1>Rare-earth origin disclosure (US FY2023 NDAA s.857)</h1>\n"
        f"{_facts(facts)}"
        '<p class="small">For each stage, the countries where the rare earths of this SKU\'s magnets were '
        "mined, refined into oxides, made into metals and alloys, and made into magnets, as percents of the "
        "rare-earth mass. <em>unknown</em>: nobody has shown where the stage took place.</p>\n</header>\n<main>\n"
        f"{disclosure_tables(disclosure, '')}</main>\n"
    )
    return _page(f"s.857 disclosure: SKU {sku}", body)


def _answer_section(answer: AssessmentRead) -> str:
    asked = f"{' or '.join(answer.countries)} at any of: {', '.join(s.replace('_', ' ') for s in answer.stages)}"
    return (
        '<section id="answer">\n<h2>Does it contain rare earths from '
        f"{esc(' or '.join(answer.countries))}?</h2>\n"
        f'<div class="answer" data-answer="{esc(answer.answer)}" data-share-percent="{esc(answer.share_percent)}" '
        f'data-unknown-percent="{esc(answer.unknown_percent)}" data-total-kg="{esc(answer.total_kg)}">\n'
        f'<span class="badge {esc(answer.answer)}">{ANSWER_WORDS[answer.answer]}</span>\n'
        f"<div><div><strong>{esc(answer.share_percent)} %</strong> shown to come from {esc(asked)}; "
        f"<strong>{esc(answer.unknown_percent)} %</strong> unknown; {esc(answer.total_kg)} kg of rare earths in "
        f"{_lots(answer.lots_count or 0)}.</div>\n"
        f'<div class="small explanation">{esc(answer.explanation)}</div></div>\n</div>\n</section>\n'
    )


def _rules_section(compliance: ComplianceRead) -> str:
    rows = []
    for result in compliance.results:
        share = "n/a" if result.share_percent is None else f"{result.share_percent} %"
        rows.append(
            f'<tr data-rule="{esc(result.rule)}" data-answer="{esc(result.answer)}">'
            f"<td><strong>{esc(result.title)}</strong><br>"
            f'<span class="small">{esc(result.rule)}, version {esc(result.version)}, '
            f"{'in force' if result.in_force else 'not in force'}</span></td>"
            f'<td><span class="badge {esc(result.answer)}">{ANSWER_WORDS[result.answer]}</span></td>'
            f'<td class="number">{esc(share)}</td>'
            f'<td class="small">{esc(result.explanation)}</td></tr>'
        )
    table = (
        '<table class="rules">\n<thead><tr><th>Rule</th><th>Answer</th><th>Share</th><th>Why</th></tr></thead>\n'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n"
        if rows
        else "<p>No rule has a version on this date.</p>\n"
    )
    return (
        f'<section id="rules">\n<h2>The rules on {esc(compliance.on.isoformat())}</h2>\n'
        '<p class="small">Every rule with a version on the date, tested on this SKU\'s production lots (or the '
        "lots of the materials each rule is about, upstream of them).</p>\n"
        f"{table}</section>\n"
    )


def _flows_section(report: Report) -> str:
    countries = " or ".join(report.answer.countries)
    legend = (
        '<p class="legend small">'
        f'<span><i class="swatch" style="background:{sankey.HIGHLIGHT}"></i>{esc(countries)} (asked)</span>'
        '<span><i class="swatch unknown"></i>unknown: nobody has shown where</span>'
        f'<span><i class="swatch" style="background:{sankey.NONE_COLOUR}"></i>none: stage not gone through</span>'
        f'<span><i class="swatch" style="background:{sankey.RECYCLED_COLOUR}"></i>recycled</span>'
        "<span>Heights and widths are proportional to kilograms; hover for exact figures.</span></p>\n"
    )
    drawing = sankey.svg(
        report.flows, highlight=report.answer.countries, title=f"Flow of the rare earths of {report.sku}"
    )
    return (
        '<section id="flows">\n<h2>Where the rare earths went</h2>\n'
        f'{legend}<div class="figure">\n{drawing}\n</div>\n</section>\n'
    )


def report_page(report: Report, generated_at: datetime, attestation: str | None = None) -> str:
    """The SKU's report: the answer, the rules' answers, the flows drawn, and the s.857 disclosure."""
    facts = [
        ("SKU", f"<strong>{esc(report.sku)}</strong>: {esc(report.name)}"),
        ("Owner", esc(report.organization)),
        ("Generated", esc(when(generated_at))),
        ("As of", f"<time>{esc(when(report.as_of))}</time> (what the service knew then)"),
        ("Rules on", esc(report.on.isoformat())),
    ]
    if attestation is not None:
        facts.append(("Attestation", f'<code class="attestation">{esc(attestation)}</code>'))
    disclosure_heading = '<h2 id="disclosure">Disclosure (US FY2023 NDAA s.857)</h2>\n'
    body = (
        f"<header>\n<h1>Rare-earth origin report: {esc(report.sku)}</h1>\n{_facts(facts)}</header>\n<main>\n"
        f"{_answer_section(report.answer)}{_rules_section(report.compliance)}{_flows_section(report)}"
        f'<section id="s857">\n{disclosure_tables(report.disclosure, disclosure_heading, REPORT_LOT_TABLES)}'
        "</section>\n</main>\n"
    )
    return _page(f"Rare-earth origin report: {report.sku}", body)
