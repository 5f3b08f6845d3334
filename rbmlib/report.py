"""Claim records: what each chapter actually checked, for the book's errata and reproduction report.

Every chapter calls :func:`record_claim` right after the cell that checks a claim of
the paper or of the study notes. The record goes to ``results/claims/<chapter>.json``
(one JSON object keyed by claim id, written deterministically), and the book's
reproduction-report and errata pages are generated from those files at build time,
so the pages can never drift from the checks the chapters ran.

Record fields
-------------
id : str
    Stable identifier, e.g. ``"ch2.db-joint-sweep"``.
chapter : str
    Docname of the chapter, e.g. ``"chapters/02_detailed_balance"``.
anchor : str
    MyST label (target) of the section holding the check, for links.
source : {'paper', 'notes', 'both'}
    Whose claim it is.
statement : str
    The claim as made (Markdown/LaTeX allowed).
status : {'holds-exactly', 'holds-statistically', 'fails-corrected', 'imprecise-corrected'}
measure : str
    What was measured, e.g. ``"max |error| = 2e-16 (< 1e-12)"`` or
    ``"chi-square p = 0.41 (alpha = 1e-3)"``.
correction : str, optional
    For failed or imprecise claims: the correct statement.
quote : str or list of str, optional
    The source's own words (a sentence or LaTeX fragment, whitespace aside; a list if
    several): required for a failed or imprecise claim of the notes (``source`` ``'notes'``
    or ``'both'``), where it is checked against the notes' text by ``tests/test_claims.py``;
    for a claim of the paper, a sentence of its abstract.
where : str, optional
    Where the quote stands: ``"notes §3.1, eq. (12)"``, ``"abstract"``. Required with ``quote``.
tier : {'notation', 'derivation', 'wrong'}, optional
    Required for a failed or imprecise claim: a notation slip or typo; a derivation
    slip whose result is nevertheless correct; or a wrong result.
cause : str, optional
    Required for a failed or imprecise claim: the root cause, a key of
    ``results/claims/causes.yml`` (several claims share one cause, e.g. the sweep's
    irreversibility), so that the errata group them.

Sources: ``'paper'`` (what the study notes say the paper says, or what its abstract states),
``'notes'``, ``'both'``, and ``'library'`` for validations of rbmlib itself (its sampler
draws from the conditionals it claims to), which are not claims of either text.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ._io import atomic_write_text

__all__ = ["record_claim", "load_claims", "STATUSES", "SOURCES", "TIERS", "claims_dir"]

STATUSES = ("holds-exactly", "holds-statistically", "fails-corrected", "imprecise-corrected")
SOURCES = ("paper", "notes", "both", "library")
TIERS = ("notation", "derivation", "wrong")
ERRATA_STATUSES = ("fails-corrected", "imprecise-corrected")


def claims_dir() -> Path:
    """Folder of the claim files: ``$RBMLIB_CLAIMS_DIR`` or ``<repo>/results/claims``."""
    env = os.environ.get("RBMLIB_CLAIMS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "results" / "claims"


def record_claim(id: str, *, chapter: str, anchor: str, source: str, statement: str, status: str,
                 measure: str, correction: str | None = None, quote=None, where: str | None = None,
                 tier: str | None = None, cause: str | None = None) -> dict:
    """Record (or update) the outcome of one checked claim; returns the record.

    The file is rewritten atomically with sorted keys, so re-running a chapter
    with the same results leaves it byte-identical. See the module docstring for
    the fields and which of them a failed or imprecise claim needs.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}.")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    erratum = status in ERRATA_STATUSES
    if erratum and not correction:
        raise ValueError(f"claim {id!r} has status {status!r}: give the correct statement in `correction`.")
    if erratum and tier not in TIERS:
        raise ValueError(f"claim {id!r} has status {status!r}: give `tier`, one of {TIERS}, got {tier!r}.")
    if erratum and not cause:
        raise ValueError(f"claim {id!r} has status {status!r}: name its root cause in `cause` "
                         "(a key of results/claims/causes.yml).")
    if not erratum and (tier or cause):
        raise ValueError(f"claim {id!r} holds ({status!r}): `tier` and `cause` are for failed or imprecise claims.")
    if quote is not None:
        quotes = [quote] if isinstance(quote, str) else list(quote)
        if not quotes or not all(isinstance(q, str) and q.strip() for q in quotes):
            raise ValueError(f"claim {id!r}: `quote` must be a non-empty string or a list of them.")
        quote = quotes[0] if len(quotes) == 1 else quotes
    if erratum and source in ("notes", "both") and (quote is None or not where):
        raise ValueError(f"claim {id!r} is an erratum of the notes: give their exact words in `quote` and the "
                         "section/equation in `where`.")
    if quote is not None and not where:
        raise ValueError(f"claim {id!r}: say where the quote stands (`where`, e.g. 'notes §3.1, eq. (12)').")
    rec = {"id": id, "chapter": chapter, "anchor": anchor, "source": source, "statement": statement,
           "status": status, "measure": measure, "correction": correction}
    for key, value in (("quote", quote), ("where", where), ("tier", tier), ("cause", cause)):
        if value is not None:
            rec[key] = value
    folder = claims_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (Path(chapter).name + ".json")
    data = {}
    if path.exists():
        data = json.loads(path.read_text())
    data[id] = rec
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if path.exists() and path.read_text() == text:
        return rec
    atomic_write_text(path, text)
    return rec


def load_claims(folder: Path | None = None) -> list[dict]:
    """All records, sorted by chapter then id."""
    folder = Path(folder) if folder else claims_dir()
    out = []
    for f in sorted(folder.glob("*.json")):
        out.extend(json.loads(f.read_text()).values())
    return sorted(out, key=lambda r: (r["chapter"], r["id"]))
