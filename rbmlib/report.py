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
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ._io import atomic_write_text

__all__ = ["record_claim", "load_claims", "STATUSES", "claims_dir"]

STATUSES = ("holds-exactly", "holds-statistically", "fails-corrected", "imprecise-corrected")
SOURCES = ("paper", "notes", "both")


def claims_dir() -> Path:
    """Folder of the claim files: ``$RBMLIB_CLAIMS_DIR`` or ``<repo>/results/claims``."""
    env = os.environ.get("RBMLIB_CLAIMS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "results" / "claims"


def record_claim(id: str, *, chapter: str, anchor: str, source: str, statement: str, status: str,
                 measure: str, correction: str | None = None) -> dict:
    """Record (or update) the outcome of one checked claim; returns the record.

    The file is rewritten atomically with sorted keys, so re-running a chapter
    with the same results leaves it byte-identical.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}.")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if status in ("fails-corrected", "imprecise-corrected") and not correction:
        raise ValueError(f"claim {id!r} has status {status!r}: give the correct statement in `correction`.")
    rec = {"id": id, "chapter": chapter, "anchor": anchor, "source": source, "statement": statement,
           "status": status, "measure": measure, "correction": correction}
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
