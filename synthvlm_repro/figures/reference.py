"""The published numbers a run is compared against (package data ``reference_numbers.yaml``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

REFERENCE_FILE = Path(__file__).with_name("reference_numbers.yaml")


@lru_cache(maxsize=1)
def load_reference() -> dict:
    """The parsed YAML: ``{"sources": {tag: description}, "tables": {name: {title, unit, rows}}}``."""
    return yaml.safe_load(REFERENCE_FILE.read_text(encoding="utf-8"))


def reference_rows(table: str | None = None):
    """Tidy DataFrame ``table, row, column, value, source, missing`` (value NaN where missing)."""
    import pandas as pd

    data = load_reference()
    records = []
    for name, spec in data["tables"].items():
        if table is not None and name != table:
            continue
        for row, cells in spec["rows"].items():
            for column, cell in cells.items():
                records.append({"table": name, "row": row, "column": column,
                                "value": float(cell["value"]) if "value" in cell else float("nan"),
                                "source": cell.get("source", ""), "missing": cell.get("missing", "")})
    if table is not None and not records:
        raise KeyError(f"{REFERENCE_FILE.name}: no table named {table!r}")
    return pd.DataFrame.from_records(records, columns=["table", "row", "column", "value", "source", "missing"])


def paper_numbers(table: str):
    """One table of the paper's numbers, wide: one row per named row of ``table`` (index, in file order),
    one column per reported quantity (NaN where the paper gives none; never computed here), and
    ``source``: the source tags of the row's numbers joined by ``/``.

    Every table in the kit that prints a paper number reads it through this (or :func:`reference_value`),
    so ``reference_numbers.yaml`` is the only place a published number is written down.
    """
    tidy = reference_rows(table)
    wide = tidy.pivot(index="row", columns="column", values="value")
    wide = wide.reindex(index=list(dict.fromkeys(tidy["row"])), columns=list(dict.fromkeys(tidy["column"])))
    wide["source"] = tidy.groupby("row")["source"].agg(lambda s: "/".join(sorted({x for x in s if x})))
    wide.index.name, wide.columns.name = "row", None
    return wide


def reference_value(table: str, row: str, column: str) -> float | None:
    """One published number, or None when the paper does not give it."""
    cell = load_reference()["tables"][table]["rows"].get(row, {}).get(column, {})
    return float(cell["value"]) if "value" in cell else None


def reference_source(table: str, row: str, column: str) -> str:
    """The source tag of one number ('' when missing)."""
    return load_reference()["tables"][table]["rows"].get(row, {}).get(column, {}).get("source", "")
