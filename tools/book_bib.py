"""Sphinx extension of the book: author-year labels in the bibliography.

The chapters cite author-year (``bibtex_reference_style: author_year`` gives
"[Salazar, 2017]" in the text), but pybtex's stock styles label the list itself with
alpha codes ("[CPerpinanH05]") or numbers, which the reader cannot match to the
citation. This registers the pybtex formatting style ``authoryear``: pybtex's ``plain``
style (entries sorted by author, year, title) whose labels read "Salazar 2017",
"Jarzynski & Wójcik 2004", "Ackley et al. 1985", with a/b/... when two coincide.

Loaded by Jupyter Book through ``_config.yml`` (``sphinx.local_extensions``) and
selected with ``bibtex_default_style: authoryear``.
"""
from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last(person) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Last YEAR", "Last & Last YEAR", "Last et al. YEAR"; a/b/... for ties."""

    def format_label(self, entry) -> str:
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        if not people:
            who = Text.from_latex(entry.fields.get("title", entry.key)).render_as("text")
        elif len(people) == 1:
            who = _last(people[0])
        elif len(people) == 2:
            who = f"{_last(people[0])} & {_last(people[1])}"
        else:
            who = f"{_last(people[0])} et al."
        return f"{who} {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        labels = [self.format_label(e) for e in sorted_entries]
        count, seen = Counter(labels), Counter()
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabelStyle


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
