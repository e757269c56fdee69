"""Delimited text tables (CSV, TSV), plain and safe to open in a spreadsheet.

The first line is the header: no comment lines, so pandas, ``csv.DictReader``, Excel and
BORIS read them as they are (provenance goes in a sidecar: ``stamp.write_provenance_sidecar``).

Free text (words, notes, labels, names) that starts with ``= + - @`` or a tab would be
run as a formula by Excel or LibreOffice; such cells get a leading apostrophe, the
spreadsheets' own "this is text" mark. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> str:
    """A free-text cell: one line, and never read as a spreadsheet formula."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    if text.startswith(_FORMULA_START) and not _is_number(text):
        text = "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def number_cell(value: Any, digits: int = 4) -> str:
    """A number cell, at most ``digits`` decimals; empty for None, NaN or infinity."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    try:
        x = float(value)
    except (TypeError, ValueError):
        return text_cell(value)
    if math.isnan(x) or math.isinf(x):
        return ""
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def json_cell(value: Any) -> str:
    """Structured data (evidence) as compact JSON in one cell."""
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def render_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *,
                 delimiter: str = ",") -> str:
    """The table as text: a header row, then the rows; RFC 4180 quoting, ``\\n`` line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row has {len(row)} cells for {len(columns)} columns")
        writer.writerow(row)
    return buf.getvalue()


def read_table(text: str, delimiter: str = ",") -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(columns, rows as dicts, comment lines) of a table; files written before
    cuewatch kept CSVs plain started with ``#`` lines, returned as comments."""
    lines = text.splitlines(keepends=True)
    comments = []
    while lines and lines[0].startswith("#"):
        comments.append(lines.pop(0).rstrip("\n")[1:].strip())
    reader = csv.reader(io.StringIO("".join(lines)), delimiter=delimiter)
    rows = list(reader)
    if not rows:
        return [], [], comments
    header, body = rows[0], rows[1:]
    return header, [dict(zip(header, r)) for r in body], comments
