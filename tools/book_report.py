"""Sphinx extension of the book: generated claim pages, optional headline figure, offline MathJax.

Loaded by Jupyter Book through ``_config.yml``::

    sphinx:
      local_extensions:
        book_report: tools/

It adds three MyST directives and two configuration fix-ups (offline MathJax, no thebe).

``{claims-report}``
    The reproduction report (``reproduction.md``): every claim record in
    ``results/claims/*.json``, one table per chapter (claim id, whose claim,
    statement, verdict, what was measured, link to the section that checks it),
    with a count per verdict. With no records it says so plainly.

``{claims-errata}``
    The errata (``errata.md``): the records whose status is ``fails-corrected`` or
    ``imprecise-corrected``, with the statement as made, the correct statement, the
    evidence and the link. With no such record it says so plainly.

``{headline-figure} <path>``
    A figure when the image file exists (path relative to the book root), otherwise
    the plain sentence given as ``:missing:`` -- never a broken image.

The records are written by the chapters with :func:`rbmlib.report.record_claim` (the
file format, one JSON object per chapter keyed by claim id, is documented there); this
module only reads and renders them, so the pages cannot be typed by hand and cannot
drift from the checks the chapters ran. The pages are re-read on every build
(``env-get-outdated``), since the claim files are not Sphinx sources.

The rendering itself (:func:`render_report`, :func:`render_errata`) is plain
``records -> MyST Markdown`` and can be used and tested without Sphinx.

Offline MathJax: Jupyter Book adds every ``*.js`` file found under ``_static/`` as a
``<script>`` of every page. The vendored MathJax tree in ``_static/mathjax`` (see
``tools/book_vendor_mathjax.py``) must instead be loaded once, through
``mathjax_path``, and its TeX extensions only on demand, so :func:`_drop_vendored_js`
removes them from ``html_js_files`` again. For the same reason :func:`_switch_off_thebe`
removes sphinx-thebe's page scripts (inert without a launch button, but naming a CDN).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from rbmlib.report import SOURCES, STATUSES  # the record format is defined (and written) there

logger = logging.getLogger(__name__)

REQUIRED = ("id", "chapter", "anchor", "source", "statement", "status", "measure")
VERDICT = {
    "holds-exactly": "holds (exact check)",
    "holds-statistically": "holds (statistical test)",
    "fails-corrected": "**fails**, corrected",
    "imprecise-corrected": "**imprecise**, corrected",
}
SOURCE_TEXT = {"paper": "paper", "notes": "notes", "both": "paper and notes"}
ERRATA_STATUSES = ("fails-corrected", "imprecise-corrected")
CLAIMS_SUBDIR = Path("results") / "claims"
VENDORED_JS_PREFIX = "mathjax/"

NO_RECORDS = ("No claim has been recorded yet: no chapter has run a check that writes to "
              "`results/claims/`. This page fills itself in as the chapters are executed.")


# ----------------------------------------------------------------------------- records
def load_records(folder: Path) -> tuple[list[dict], list[str]]:
    """Read every ``<chapter>.json`` in *folder*; return ``(valid records, problems)``.

    A file is one JSON object ``{claim id: record}`` as written by
    :func:`rbmlib.report.record_claim`. Records with a missing field, an unknown
    ``status`` or ``source``, or a failed/imprecise claim without ``correction`` are
    reported in *problems* (one readable line each) and left out of the pages.
    Records are sorted by chapter, then id.
    """
    folder = Path(folder)
    records, problems = [], []
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{f.name}: not readable JSON ({exc})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{f.name}: expected one JSON object keyed by claim id")
            continue
        for key, rec in data.items():
            why = _invalid(key, rec)
            if why:
                problems.append(f"{f.name}: claim {key!r}: {why}")
            else:
                records.append(rec)
    records.sort(key=lambda r: (r["chapter"], r["id"]))
    return records, problems


def _invalid(key, rec) -> str | None:
    if not isinstance(rec, dict):
        return "not a JSON object"
    missing = [k for k in REQUIRED if k not in rec or not isinstance(rec[k], str)]
    if missing:
        return f"missing or non-text field(s) {missing}"
    if rec["id"] != key:
        return f"keyed as {key!r} but its id is {rec['id']!r}"
    if rec["status"] not in STATUSES:
        return f"status {rec['status']!r} is not one of {STATUSES}"
    if rec["source"] not in SOURCES:
        return f"source {rec['source']!r} is not one of {SOURCES}"
    if rec["status"] in ERRATA_STATUSES and not (rec.get("correction") or "").strip():
        return f"status {rec['status']!r} needs the correct statement in 'correction'"
    if not rec["statement"].strip():
        return "empty statement"
    return None


# ----------------------------------------------------------------------------- rendering
def _cell(text) -> str:
    """One table cell of MyST Markdown: a single line, never empty."""
    text = " ".join(str(text or "").split())
    return text if text else "—"


def _verdict(status: str) -> str:
    return VERDICT.get(status, status)


def _where(rec) -> str:
    anchor = rec["anchor"].strip()
    if anchor:
        return f"{{ref}}`{anchor}`"
    return f"{{doc}}`/{rec['chapter']}`"


def _list_table(header: list[str], rows: list[list], widths: str) -> str:
    """A MyST ``list-table``; a cell is a string or a list of strings (its paragraphs)."""
    def paragraphs(cell):
        return [_cell(p) for p in (cell if isinstance(cell, (list, tuple)) else [cell])]

    body = [p for r in [header, *rows] for c in r for p in paragraphs(c)]
    longest = max((len(m) for c in body for m in re.findall(r"`+", c)), default=0)
    fence = "`" * max(3, longest + 1)
    out = [f"{fence}{{list-table}}", ":header-rows: 1", f":widths: {widths}", ":class: book-claims-table", ""]
    for row in [header, *rows]:
        for k, cell in enumerate(row):
            first, *more = paragraphs(cell)
            out.append(("* - " if k == 0 else "  - ") + first)
            for p in more:
                out.extend(["", "    " + p])
    out.append(fence)
    return "\n".join(out)


def _claim_cell(rec) -> list[str]:
    return [f"`{rec['id']}`", f"{SOURCE_TEXT.get(rec['source'], rec['source'])}; checked in {_where(rec)}"]


def _count_line(records) -> str:
    n_ch = len({r["chapter"] for r in records})
    parts = [f"{sum(r['status'] == s for r in records)} {_verdict(s).replace('**', '')}" for s in STATUSES]
    return (f"{len(records)} claim{'s' if len(records) != 1 else ''} checked in {n_ch} "
            f"chapter{'s' if n_ch != 1 else ''}: " + "; ".join(parts) + ".")


SOURCE_SECTIONS = (
    ("paper", "Claims of the paper",
     "What its abstract states or what the study notes report it to say (quoted in each record)."),
    ("both", "Claims of the paper and of the notes", ""),
    ("notes", "Claims of the study notes", ""),
    ("library", "Validations of rbmlib",
     "Not claims of either text: checks that the library computes what the chapters rely on."),
)
TIER_SECTIONS = (
    ("wrong", "Wrong results",
     "The result as stated is wrong, or holds only under conditions the text does not give."),
    ("derivation", "Derivation slips with a correct result",
     "A step is wrong or missing; the result it leads to is nevertheless right."),
    ("notation", "Notation and typos", "Nothing downstream depends on them."),
)
TIER_TEXT = {"wrong": "wrong result", "derivation": "derivation slip, correct result", "notation": "notation or typo"}


def _quote_text(rec) -> str:
    """The record's quote(s) as MyST: LaTeX fragments as maths, sentences in quotation marks."""
    q = rec.get("quote")
    if not q:
        return ""
    out = []
    for part in ([q] if isinstance(q, str) else q):
        part = " ".join(part.split())
        if "$" not in part:  # a fragment cut from a longer formula: balance its \\left / \\right for MathJax
            n_left = len(re.findall(r"\\left(?![A-Za-z])", part))
            n_right = len(re.findall(r"\\right(?![A-Za-z])", part))
            part = "\\left. " * max(0, n_right - n_left) + part + " \\right." * max(0, n_left - n_right)
        if "$" in part or "\\" not in part and not re.search(r"[\\^_{}]", part):
            out.append(f"“{part}”")              # a sentence (maybe with inline maths)
        elif "&" in part or "\\\\" in part:
            out.append(f"${{\\begin{{aligned}}{part}\\end{{aligned}}}}$")
        else:
            out.append(f"${part}$")
    where = rec.get("where") or ""
    return " … ".join(out) + (f" ({where})" if where else "")


def render_report(records: list[dict]) -> str:
    """MyST Markdown of the reproduction report for *records* (all statuses), by whose claim it is."""
    if not records:
        return NO_RECORDS
    out = [_count_line(records)]
    for source, title, blurb in SOURCE_SECTIONS:
        mine = [r for r in records if r["source"] == source]
        if not mine:
            continue
        out.append(f"**{title}** ({len(mine)}). {blurb}".rstrip())
        for chapter in sorted({r["chapter"] for r in mine}):
            rows = [[_claim_cell(r), [r["statement"], *([f"As written: {_quote_text(r)}"] if r.get("quote") else [])],
                     _verdict(r["status"]), r["measure"]]
                    for r in mine if r["chapter"] == chapter]
            out.append(f"Chapter {{doc}}`/{chapter}`:")
            out.append(_list_table(["Claim (whose; where)", "Statement", "Verdict", "Measured"], rows, "22 40 13 25"))
    return "\n\n".join(out)


def render_errata(records: list[dict], causes: dict | None = None) -> str:
    """MyST Markdown of the errata: the failed or imprecise claims, by tier and root cause.

    *causes* maps a cause key to ``{'title', 'summary'}`` (``results/claims/causes.yml``); a record's
    ``cause`` groups it with the other symptoms of the same mistake, and a cause is listed under the
    most severe tier among its records.
    """
    if not records:
        return NO_RECORDS
    bad = [r for r in records if r["status"] in ERRATA_STATUSES]
    if not bad:
        return (f"No erratum: every one of the {len(records)} claims recorded so far holds "
                f"(see the {{doc}}`reproduction report </reproduction>`).")
    causes = causes or {}
    order = [t for t, _, _ in TIER_SECTIONS]
    groups: dict[str, list[dict]] = {}
    for r in bad:
        groups.setdefault(r.get("cause") or r["id"], []).append(r)

    def severity(key):
        return min(order.index(r.get("tier")) if r.get("tier") in order else 0 for r in groups[key])

    by_source = {s: sum(r["source"] == s for r in bad) for s, _, _ in SOURCE_SECTIONS}
    out = [f"{len(bad)} of the {len(records)} claims recorded so far are wrong or imprecise as stated: "
           f"{len(groups)} root cause{'s' if len(groups) != 1 else ''}; "
           + ", ".join(f"{sum(r.get('tier') == t for r in bad)} {TIER_TEXT[t]}" for t in order)
           + ". Whose: " + ", ".join(f"{n} {SOURCE_TEXT.get(s, s)}" for s, n in by_source.items() if n) + "."]
    for tier, title, blurb in TIER_SECTIONS:
        keys = sorted((k for k in groups if severity(k) == order.index(tier)), key=lambda k: (-len(groups[k]), k))
        if not keys:
            continue
        out.append(f"**{title}.** {blurb}")
        for key in keys:
            cause = causes.get(key, {})
            rows = [[[*_claim_cell(r), f"{_verdict(r['status'])}; {TIER_TEXT.get(r.get('tier'), '')}"],
                     [r["statement"], *([f"As written: {_quote_text(r)}"] if r.get("quote") else [])],
                     r["correction"], r["measure"]] for r in groups[key]]
            table = _list_table(["Claim (whose; where checked)", "As stated", "Correct statement", "Evidence"],
                                rows, "20 27 33 20")
            fence = "`" * (max(len(m) for m in re.findall(r"`+", table)) + 1)
            head = cause.get("title") or key
            body = [" ".join(str(cause.get("summary") or "").split())] if cause.get("summary") else []
            n = len(groups[key])
            out.append("\n".join([f"{fence}{{admonition}} {head} ({n} claim{'s' if n != 1 else ''})",
                                   ":class: book-erratum", "", *body, "", table, fence]))
    return "\n\n".join(out)


def load_causes(folder: Path) -> dict:
    """The root causes of the errata (``causes.yml`` beside the claim records); {} if absent."""
    path = Path(folder) / "causes.yml"
    if not path.is_file():
        return {}
    import yaml
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of cause keys to {{title, summary}}")
    return data


# ----------------------------------------------------------------------------- directives
class _ClaimsDirective(SphinxDirective):
    has_content = False
    required_arguments = 0
    renderer = staticmethod(render_report)

    def run(self):
        env = self.env
        _mark_generated(env)
        folder = Path(env.srcdir) / CLAIMS_SUBDIR
        records, problems = load_records(folder)
        for p in problems:
            logger.warning(f"bad claim record in {CLAIMS_SUBDIR}/{p}", location=self.get_location(),
                           type="book_report", subtype="claims")
        for r in records:
            if r["chapter"] not in env.found_docs:
                logger.warning(f"claim {r['id']!r} names chapter {r['chapter']!r}, which is not a page of "
                               f"the book (docname without extension, e.g. 'chapters/04_xft')",
                               location=self.get_location(), type="book_report", subtype="claims")
        for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            env.note_dependency(str(f))
        container = nodes.container(classes=["book-claims"])
        if self.renderer is render_errata:
            causes = load_causes(folder)
            env.note_dependency(str(folder / "causes.yml"))
            for r in records:
                if r["status"] in ERRATA_STATUSES and r.get("cause") and r["cause"] not in causes:
                    logger.warning(f"claim {r['id']!r} names cause {r['cause']!r}, which "
                                   f"{CLAIMS_SUBDIR}/causes.yml does not define", location=self.get_location(),
                                   type="book_report", subtype="claims")
            text = render_errata(records, causes)
        else:
            text = self.renderer(records)
        self.state.nested_parse(StringList(text.splitlines(), source=f"<generated from {CLAIMS_SUBDIR}>"),
                                self.content_offset, container)
        return [container]


class ClaimsReport(_ClaimsDirective):
    renderer = staticmethod(render_report)


class ClaimsErrata(_ClaimsDirective):
    renderer = staticmethod(render_errata)


class HeadlineFigure(SphinxDirective):
    """A figure if the image exists (path relative to the book root), else the ``:missing:`` sentence."""

    has_content = True
    required_arguments = 1
    option_spec = {"alt": directives.unchanged_required, "missing": directives.unchanged_required,
                   "width": directives.unchanged}

    def run(self):
        rel = self.arguments[0].lstrip("/")
        path = Path(self.env.srcdir) / rel
        _mark_generated(self.env)
        if "missing" not in self.options or "alt" not in self.options:
            raise self.error("headline-figure needs both :alt: and :missing: (the sentence shown without the file)")
        container = nodes.container(classes=["book-headline-figure"])
        if path.is_file():
            lines = ["```{figure} /" + rel, f":alt: {self.options['alt']}",
                     f":width: {self.options.get('width', '100%')}", "", *self.content, "```"]
        else:
            lines = [self.options["missing"]]
        self.state.nested_parse(StringList(lines, source=f"<headline-figure {rel}>"), self.content_offset, container)
        return [container]


# ----------------------------------------------------------------------------- hooks
def _drop_vendored_js(app, config):
    """Keep the vendored MathJax files out of ``html_js_files`` (they load via ``mathjax_path``)."""
    def name(entry):
        return entry[0] if isinstance(entry, (tuple, list)) else entry
    config.html_js_files = [e for e in config.html_js_files if not str(name(e)).startswith(VENDORED_JS_PREFIX)]


def _switch_off_thebe(app, config):
    """No thebe on an offline book: drop sphinx-thebe's page scripts (they name a CDN copy of thebe).

    Jupyter Book always loads ``sphinx_thebe``; its scripts are inert unless a thebe launch
    button is pressed, and this book has none (``launch_buttons.thebe`` is off), but they
    carry the CDN address. If a launch button is ever switched on, thebe is left alone.
    """
    launch = (config.html_theme_options or {}).get("launch_buttons", {}) or {}
    if launch.get("thebe"):
        return
    for event in ("env-before-read-docs", "doctree-resolved"):
        for listener in list(app.events.listeners.get(event, [])):
            if getattr(listener.handler, "__module__", "") == "sphinx_thebe":
                app.disconnect(listener.id)


def _mark_generated(env):
    if not hasattr(env, "book_report_docs"):
        env.book_report_docs = set()
    env.book_report_docs.add(env.docname)


def _purge(app, env, docname):
    getattr(env, "book_report_docs", set()).discard(docname)


def _merge(app, env, docnames, other):
    _mark = getattr(env, "book_report_docs", set())
    _mark |= getattr(other, "book_report_docs", set())
    env.book_report_docs = _mark


def _always_regenerate(app, env, added, changed, removed):
    """The generated pages depend on files outside the sources (claims, results): re-read them."""
    return sorted(getattr(env, "book_report_docs", set()) - set(removed))


def setup(app):
    app.add_directive("claims-report", ClaimsReport)
    app.add_directive("claims-errata", ClaimsErrata)
    app.add_directive("headline-figure", HeadlineFigure)
    app.connect("config-inited", _drop_vendored_js)
    app.connect("config-inited", _switch_off_thebe)
    app.connect("env-get-outdated", _always_regenerate)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
