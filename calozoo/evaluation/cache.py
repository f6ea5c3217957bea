"""A cache of measured reference samples, so a second model is compared without measuring them again.

Measuring a sample (projection into the geometry, every per-shower observable) is most of an
evaluation's time. The reference is the same for every model evaluated against it, so
``calozoo evaluate`` keeps its :class:`~calozoo.evaluation.features.ShowerFeatures` in a folder
next to the report, one ``.npz`` file per (file content, settings) key. The key is a SHA-256 of
the input files' bytes and of everything the measurement depends on (geometry, projection,
binning, angle scan, calozoo version), so a changed file or setting never reuses a stale entry.

The files hold plain arrays only (``numpy.load(..., allow_pickle=False)``), are written
atomically, and a file that cannot be read as a cache entry is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from .features import ShowerFeatures

__all__ = ["cache_key", "load_features", "save_features", "CACHE_FOLDER"]

#: The cache folder's name, created beside the report folder.
CACHE_FOLDER = ".calozoo-features"


def cache_key(files: Iterable[str | os.PathLike], settings: Mapping) -> str:
    """A hex SHA-256 of the files' contents (in order) and the measurement ``settings`` (JSON-able)."""
    from .. import __version__

    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 22), b""):
                digest.update(block)
        digest.update(b"\0file\0")
    digest.update(json.dumps({**settings, "calozoo": __version__}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def save_features(path: str | os.PathLike, features: ShowerFeatures) -> Path:
    """Write ``features`` to ``path`` (``.npz``) atomically: a crash leaves no entry that looks complete."""
    path = Path(path)
    arrays = {
        "incident_energy_gev": features.incident_energy_gev,
        "direction": features.direction,
        "pdg": features.pdg,
        "angle_scan_deg": features.angle_scan_deg,
        "angle_scan_percent": features.angle_scan_percent,
        "layer_energy_mev": features.layer_energy_mev,
        "layer_occupancy": features.layer_occupancy,
    }
    if features.cell_grid is not None:
        arrays["cell_grid"] = features.cell_grid
    arrays.update({f"scalars/{k}": v for k, v in features.scalars.items()})
    arrays.update({f"profiles/{k}": v for k, v in features.profiles.items()})
    arrays.update({f"profile_edges/{k}": v for k, v in features.profile_edges.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_features(path: str | os.PathLike) -> ShowerFeatures | None:
    """The features cached in ``path``, or ``None`` if there is no readable entry."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):
        return None

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "/")}

    try:
        return ShowerFeatures(
            arrays["incident_energy_gev"],
            arrays["direction"],
            arrays["pdg"],
            group("scalars"),
            group("profiles"),
            group("profile_edges"),
            arrays["angle_scan_deg"],
            arrays["angle_scan_percent"],
            arrays["layer_energy_mev"],
            arrays["layer_occupancy"],
            arrays.get("cell_grid"),
        )
    except KeyError:
        return None
