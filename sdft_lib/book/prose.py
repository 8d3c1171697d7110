"""Words chosen by the numbers, for the book's sentences that state a direction or a comparison.

A chapter never types "SDFT forgot less": it computes the numbers, asks :func:`compare` for the
words, and glues them (``{glue:md}`name```) into its sentence, so the sentence says what this run
showed, whichever way it went. Where the numbers are missing (a section's data is absent) the words
say so instead.
"""

from __future__ import annotations

import math


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def compare(
    a: float,
    b: float,
    *,
    more: str,
    less: str,
    same: str,
    tol: float = 0.0,
    missing: str = "(not measured: its data is missing)",
) -> str:
    """``more`` if ``a`` exceeds ``b`` by more than ``tol``, ``less`` if it falls short by more than
    ``tol``, else ``same``."""
    if _missing(a) or _missing(b):
        return missing
    if a > b + tol:
        return more
    if a < b - tol:
        return less
    return same


def degree(x: float, bands: list[tuple[float, str]], *, missing: str = "(not measured)") -> str:
    """The word of the first band whose upper bound ``x`` is below; ``bands`` ascend and the last
    bound should be ``math.inf``. ``degree(0.4, [(0.3, "little"), (0.6, "partly"), (inf, "mostly")])``
    is ``"partly"``."""
    if _missing(x):
        return missing
    for bound, word in bands:
        if x < bound:
            return word
    return bands[-1][1]


def glue_words(name: str, text: str) -> str:
    """Glue ``text`` as Markdown under ``name`` (shown with ``{glue:md}`name```); return it."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, Markdown(text), display=False)
    return text


def glue_shared(name: str, text: str) -> str:
    """:func:`glue_words`, and the same text as HTML under ``<name>_html``, which other pages of
    the book paste (``{glue:any}`executed/<notebook>.ipynb::<name>_html```: myst-nb pastes
    only plain text and HTML across documents). Return ``text``."""
    from IPython.display import HTML
    from markdown_it import MarkdownIt
    from myst_nb import glue

    glue(f"{name}_html", HTML(MarkdownIt().renderInline(text)), display=False)
    return glue_words(name, text)


__all__ = ["compare", "degree", "glue_shared", "glue_words", "number", "readable_tables", "text_table"]


def number(x: float) -> str:
    """A float as a reader wants it in a table: whole numbers without decimals (``150``, not
    ``150.000000``), thousands grouped (``12,345``), others to four significant digits (``93.33``,
    ``5.292``, ``0.001``)."""
    if math.isnan(x):
        return "NaN"
    if x in (math.inf, -math.inf):
        return str(x)
    if abs(x) >= 1000 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.4g}"


def readable_tables() -> None:
    """Every DataFrame a notebook prints or shows formats its floats with :func:`number`, and a
    pandas Styler shows two decimals unless told otherwise (pandas' default is six)."""
    import pandas as pd

    pd.set_option("display.float_format", number)
    pd.set_option("styler.format.precision", 2)


def text_table(rows):
    """A table of texts (prompts, answers, rewrites) for a page: every text whole, its line breaks
    kept and long lines wrapped, left-aligned, no index. A plain DataFrame cuts a cell at
    ``display.max_colwidth``, often just before the number a check judges."""
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return (
        df.style.hide(axis="index")
        .set_properties(**{"white-space": "pre-wrap", "text-align": "left", "vertical-align": "top"})
        .set_table_styles([{"selector": "th", "props": "text-align: left;"}])
    )
