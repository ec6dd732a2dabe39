"""The artifact store: where an analysis's features, each model's fit and the report files live.

    <root>/
      features/<analysis>/   features.npz, test_features.npz, coords_dims.json, processed_data.parquet
      fits/<analysis>/       <model>.nc (NetCDF), <model>.checks.json, <model>.warm.npz
      artifacts/<analysis>/  the report's PNG and CSV files (a model's own under <model>/)

The root is HIBAYES_HOME, a local folder (the layout projects have always had, so their fits are
kept), or HIBAYES_ARTIFACTS, an fsspec URL (`s3://bucket/prefix`) that several workers share: a fit
one of them computed is reused by every other that asks for the same inputs (its input hash). URLs
and paths are told apart as log dirs are (`hibayes.load.log_locations.is_url`): a location is a
`Path` or a URL `str`.

A write replaces a file whole or not at all: a local one through a temporary file in the same folder
and a rename, an object by one PUT (atomic in object stores). Libraries that need a real file (NetCDF
through ArviZ and xarray, matplotlib's savefig) write and read a local temporary copy (`writing`,
`reading`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hibayes.load.log_locations import as_log_dir, file_facts, remote_fs

Location = Path | str  # a local path, or an fsspec URL

FEATURES_FILE = "features.npz"
TEST_FEATURES_FILE = "test_features.npz"
COORDS_DIMS_FILE = "coords_dims.json"


def as_location(value: str, root: Path | None = None) -> Location:
    """A setting's value as a location, by the log dir's rule: a URL as it is (less a trailing
    slash), a path made absolute against `root` (default: the working directory)."""
    return as_log_dir(value, root)


def child(base: Location, *parts: str) -> Location:
    return "/".join([base.rstrip("/"), *parts]) if isinstance(base, str) else base.joinpath(*parts)


def with_suffix(location: Location, suffix: str) -> Location:
    """`location` with its last suffix replaced (`model.nc` -> `model.warm.npz`)."""
    if isinstance(location, Path):
        return location.with_suffix(suffix)
    folder, _, name = location.rpartition("/")
    return f"{folder}/{os.path.splitext(name)[0]}{suffix}"


def parent(location: Location) -> Location:
    return location.rpartition("/")[0] if isinstance(location, str) else location.parent


def exists(location: Location) -> bool:
    """Whether a file is there (a folder is not a file)."""
    if isinstance(location, str):
        fs, path = remote_fs(location)
        return bool(fs.isfile(path))
    return location.is_file()


def signature(location: Location) -> str | None:
    """What changes when the file does (modification time and size; an object's ETag), or None when
    there is no file."""
    facts = file_facts(location)
    return facts.signature if facts else None


def read_bytes(location: Location) -> bytes:
    """The file's bytes; FileNotFoundError when there is none."""
    if isinstance(location, str):
        fs, path = remote_fs(location)
        with fs.open(path, "rb") as handle:
            return handle.read()
    return location.read_bytes()


def write_bytes(location: Location, data: bytes) -> None:
    """Replace the file with `data`, whole or not at all."""
    if isinstance(location, str):
        fs, path = remote_fs(location)
        fs.pipe_file(path, data)
        return
    location.parent.mkdir(parents=True, exist_ok=True)
    tmp = location.with_name(f".{location.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(location)
    finally:
        tmp.unlink(missing_ok=True)


def read_text(location: Location) -> str:
    return read_bytes(location).decode()


def write_text(location: Location, text: str) -> None:
    write_bytes(location, text.encode())


def delete(location: Location) -> None:
    """Remove the file if it is there."""
    if isinstance(location, str):
        fs, path = remote_fs(location)
        if fs.isfile(path):
            fs.rm_file(path)
        return
    location.unlink(missing_ok=True)


@contextmanager
def reading(location: Location) -> Iterator[Path]:
    """A local file with the content of `location`: the file itself when it is local, a temporary
    download (removed afterwards) when it is an object. FileNotFoundError when there is none."""
    if isinstance(location, Path):
        if not location.is_file():
            raise FileNotFoundError(f"no file at {location}")
        yield location
        return
    fs, path = remote_fs(location)
    with tempfile.TemporaryDirectory(prefix="hibayes-read-") as folder:
        local = Path(folder) / path.rsplit("/", 1)[-1]
        fs.get_file(path, str(local))
        yield local


@contextmanager
def writing(location: Location) -> Iterator[Path]:
    """A local file to write `location` through. When the block ends without an error it replaces
    `location` (a rename next to it locally, an upload of an object); otherwise nothing changes."""
    if isinstance(location, Path):
        location.parent.mkdir(parents=True, exist_ok=True)
        tmp = location.with_name(f".{location.stem}.{os.getpid()}.tmp{location.suffix}")
        try:
            yield tmp
            tmp.replace(location)
        finally:
            tmp.unlink(missing_ok=True)
        return
    fs, path = remote_fs(location)
    with tempfile.TemporaryDirectory(prefix="hibayes-write-") as folder:
        local = Path(folder) / path.rsplit("/", 1)[-1]
        yield local
        fs.put_file(str(local), path)


# --- features: one format for the CLI's saved states and the assets ---------------------------


@dataclass(frozen=True)
class FeatureFiles:
    """What the processors made for the models: features, held-out (test) features, coords, dims.
    Arrays as stored (0-d arrays stay arrays: `scalars_as_values` turns them into numbers)."""

    features: dict[str, np.ndarray]
    test_features: dict[str, np.ndarray]
    coords: dict[str, list[Any]]
    dims: dict[str, list[str]]


def write_features(
    folder: Location,
    features: Mapping[str, Any],
    test_features: Mapping[str, Any],
    coords: Mapping[str, list[Any]],
    dims: Mapping[str, list[str]],
) -> None:
    """features.npz, test_features.npz (empty when no processor split off held-out rows) and
    coords_dims.json in `folder`."""
    write_bytes(child(folder, FEATURES_FILE), _npz_bytes(features))
    write_bytes(child(folder, TEST_FEATURES_FILE), _npz_bytes(test_features))
    meta = {"coords": _plain_coords(coords), "dims": {name: list(values) for name, values in dims.items()}}
    write_text(child(folder, COORDS_DIMS_FILE), json.dumps(meta, indent=1))


def read_features(folder: Location) -> FeatureFiles | None:
    """The features `write_features` wrote to `folder`, or None when it wrote none there. A folder
    from before test features were always written has none: they read as empty."""
    if not exists(child(folder, COORDS_DIMS_FILE)):
        return None
    meta = json.loads(read_text(child(folder, COORDS_DIMS_FILE)))
    test_file = child(folder, TEST_FEATURES_FILE)
    test_features = _npz_arrays(read_bytes(test_file)) if exists(test_file) else {}
    return FeatureFiles(_npz_arrays(read_bytes(child(folder, FEATURES_FILE))), test_features, meta["coords"], meta["dims"])


def scalars_as_values(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """0-d arrays (sizes such as `num_group`) as Python numbers, which models use as shapes."""
    return {name: (value.item() if value.ndim == 0 else value) for name, value in arrays.items()}


def _npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return buffer.getvalue()


def _npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _plain_coords(coords: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    return {name: [v.item() if hasattr(v, "item") else v for v in values] for name, values in coords.items()}


# --- the store's layout ---------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactStore:
    """Where each artifact of an analysis lives under one root (a local folder or an fsspec URL)."""

    root: Location

    def features(self, analysis: str) -> Location:
        return child(self.root, "features", analysis)

    def fits(self, analysis: str) -> Location:
        return child(self.root, "fits", analysis)

    def fit(self, analysis: str, model: str) -> Location:
        return child(self.fits(analysis), f"{model}.nc")

    def report(self, analysis: str) -> Location:
        return child(self.root, "artifacts", analysis)


def fit_checks(fit: Location) -> Location:
    """The checker outcomes of a fit, next to its NetCDF file."""
    return with_suffix(fit, ".checks.json")
