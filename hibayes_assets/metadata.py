"""Metadata a person can read in the UI: markdown tables and PNG plots embedded in markdown."""

from __future__ import annotations

import base64
import io
from typing import Any

import dagster as dg
import pandas as pd

PREVIEW_DPI = 60  # thumbnails only: metadata lives in the event log; full plots go to files


def markdown_table(frame: pd.DataFrame, max_rows: int = 30, floatfmt: str = ".3g") -> str:
    shown = frame.head(max_rows)
    text = shown.to_markdown(index=False, floatfmt=floatfmt)
    if len(frame) > max_rows:
        text += f"\n\n_{len(frame) - max_rows} more rows not shown_"
    return text


def embedded_png(fig: Any, title: str, dpi: int = PREVIEW_DPI) -> dg.MetadataValue:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")
