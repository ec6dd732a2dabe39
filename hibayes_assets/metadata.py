"""Metadata a person can read in the UI: markdown tables and PNG plots embedded in markdown."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from hibayes import artifacts
from hibayes.artifacts import Location

PREVIEW_MAX_SIDE = 800  # thumbnails only: metadata lives in the event log; full plots go to files
# zlib level for the PNGs: level 6 (the default) or `optimize` took a quarter of a report's time
# (seconds per report on 2 cores) for files about 20% smaller.
FAST_PNG = 3


def markdown_table(frame: pd.DataFrame, max_rows: int = 30, floatfmt: str = ".3g") -> str:
    """A markdown preview; pipes in cells and column names (ids like `model|scaffold`) are escaped
    so they do not split columns."""

    def escape(value: Any) -> Any:
        return value.replace("|", "\\|") if isinstance(value, str) else value

    shown = frame.head(max_rows).map(escape).set_axis([escape(str(c)) for c in frame.columns], axis=1)
    text = shown.to_markdown(index=False, floatfmt=floatfmt)
    if len(frame) > max_rows:
        text += f"\n\n_{len(frame) - max_rows} more rows not shown_"
    return text


def embedded_png(png: Path, title: str) -> dg.MetadataValue:
    """A thumbnail of a PNG already written (a figure is rendered once): at most half its size and
    `PREVIEW_MAX_SIDE` pixels a side (a 2,000-pixel heatmap's goes into the event log too), shrunk
    by averaging whole pixel blocks (`Image.reduce`), a quarter of the cost of resampling."""
    from PIL import Image

    with Image.open(png) as image:
        factor = max(2, math.ceil(max(image.size) / PREVIEW_MAX_SIDE))
        buffer = io.BytesIO()
        image.reduce(factor).save(buffer, format="PNG", compress_level=FAST_PNG)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def save_figures(figures: Mapping[str, Any], folder: Location, dpi: int = 110,
                 crop: bool = True) -> tuple[list[Location], dict[str, dg.MetadataValue]]:
    """Write each figure to `folder/<name>.png` in the artifact store (rendered once, at `dpi`) and
    return where they went and `plot/<name>` metadata entries with a thumbnail for the UI; the
    figures are closed.

    `crop`: trim the margins to the drawn content (``bbox_inches="tight"``), which costs a second
    layout of every text; figures that lay themselves out to fit their canvas pass False. A figure
    with a layout engine (ArviZ's, under constrained layout) fits its canvas already: never cropped."""
    import matplotlib.pyplot as plt

    written: list[Location] = []
    metadata: dict[str, dg.MetadataValue] = {}
    for name, fig in figures.items():
        location = artifacts.child(folder, f"{name}.png")
        cropped = crop and fig.get_layout_engine() is None
        with artifacts.writing(location) as png:
            fig.savefig(png, dpi=dpi, bbox_inches="tight" if cropped else None, format="png",
                        pil_kwargs={"compress_level": FAST_PNG})
            metadata[f"plot/{name}"] = embedded_png(png, name)
        written.append(location)
        plt.close(fig)
    return written, metadata


def save_table(table: pd.DataFrame, location: Location, index: bool = False) -> Location:
    """A table as CSV at `location` in the artifact store."""
    artifacts.write_text(location, table.to_csv(index=index))
    return location
