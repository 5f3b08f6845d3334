"""The claim records behind the errata and the reproduction report (results/claims/*.json).

* Every quote attributed to the study notes is their exact text (whitespace aside), checked
  against the notes in ``../shared/seeds/`` when that folder is present (it is beside the
  repository on the course's machines and in CI; elsewhere the check skips, saying why).
* Every quote attributed to the paper is a sentence of its abstract
  (``results/claims/abstract-1704.08724.txt``, arXiv:1704.08724): the course attributes to the
  paper only what the notes say the paper says or what its abstract states.
* Every failed or imprecise claim has a tier and a root cause that ``causes.yml`` defines, and
  every cause is used.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from rbmlib.report import ERRATA_STATUSES, SOURCES, STATUSES, TIERS

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "results" / "claims"
NOTES_DIR = ROOT.parent / "shared" / "seeds"
ABSTRACT = CLAIMS / "abstract-1704.08724.txt"


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _records() -> list[dict]:
    out = []
    for f in sorted(CLAIMS.glob("*.json")):
        out.extend(json.loads(f.read_text(encoding="utf-8")).values())
    return out


def _quotes(rec) -> list[str]:
    q = rec.get("quote")
    return [] if q is None else ([q] if isinstance(q, str) else list(q))


def _notes_text() -> str | None:
    files = sorted(NOTES_DIR.glob("*.txt")) if NOTES_DIR.is_dir() else []
    return "\n".join(f.read_text(encoding="utf-8") for f in files) if files else None


RECORDS = _records()
IDS = [r["id"] for r in RECORDS]


def test_there_are_records():
    assert len(RECORDS) >= 40, f"only {len(RECORDS)} claim records: have the chapters been executed?"


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_record_fields(rec):
    assert rec["status"] in STATUSES and rec["source"] in SOURCES
    if rec["status"] in ERRATA_STATUSES:
        assert rec.get("tier") in TIERS, f"{rec['id']}: an erratum needs a tier {TIERS}"
        assert rec.get("cause"), f"{rec['id']}: an erratum needs a root cause"
        assert (rec.get("correction") or "").strip()
        if rec["source"] in ("notes", "both"):
            assert _quotes(rec) and rec.get("where"), f"{rec['id']}: an erratum of the notes quotes them"
    if rec["source"] == "paper":
        assert _quotes(rec) and rec.get("where"), (
            f"{rec['id']}: a claim attributed to the paper quotes the abstract or the notes' report of it")
    if _quotes(rec):
        assert rec.get("where"), f"{rec['id']}: say where the quote stands"


@pytest.mark.parametrize("rec", [r for r in RECORDS if _quotes(r)], ids=[r["id"] for r in RECORDS if _quotes(r)])
def test_quotes_are_the_sources_own_words(rec):
    if rec["where"].strip().lower().startswith("abstract"):
        text = ABSTRACT.read_text(encoding="utf-8")
        source = "the paper's abstract"
    else:
        text = _notes_text()
        if text is None:
            pytest.skip(f"the study notes are not at {NOTES_DIR} (they live in the course's shared/ folder); "
                        "quotes of the notes cannot be checked here")
        source = "the study notes"
    for q in _quotes(rec):
        assert _norm(q) in _norm(text), f"{rec['id']}: not the exact words of {source}: {q!r}"


def test_every_cause_is_defined_and_used():
    causes = yaml.safe_load((CLAIMS / "causes.yml").read_text(encoding="utf-8"))
    for key, c in causes.items():
        assert c.get("title") and c.get("summary"), f"cause {key!r} needs a title and a summary"
    used = {r["cause"] for r in RECORDS if r.get("cause")}
    assert used <= set(causes), f"causes used but not defined in causes.yml: {sorted(used - set(causes))}"
    assert set(causes) <= used, f"causes defined but never used: {sorted(set(causes) - used)}"
