"""``calozoo info FILE.h5``: what a shower file (or a folder of shards) holds, before anything uses it.

Format, number of showers, incident energies (fixed or a range), directions (normal incidence,
or the range of θ and φ), particles, the units of ``z``, whether the points are training points
or projected cell hits, and points and visible energy per shower. The conditions are read for
every shower; the points only for the first :data:`POINT_SAMPLE` showers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["describe_file", "format_description", "POINT_SAMPLE"]

#: Showers whose points are read to describe them (the conditions are read for all).
POINT_SAMPLE = 1000


def describe_file(path: str | os.PathLike) -> dict:
    """A dict describing the shower file or shard folder at ``path`` (see the module docstring).

    Raises:
        FileFormatError: not a shower file or folder of shards calozoo can read.
    """
    from .conditions import SHOWERING_PARTICLES, angles_from_direction
    from .evaluation.slices import fixed_energies
    from .io import _shard_files, detect_format, projection_of, read_conditions, read_showers

    path = Path(path)
    files = _shard_files(path) if path.is_dir() else [path]
    energy, direction, pdg = read_conditions(path)
    sample = read_showers(files[0], stop=min(POINT_SAMPLE, len(read_conditions(files[0])[0])))
    theta, phi = angles_from_direction(direction)
    normal = np.abs(direction[:, 2] - 1.0) < 1e-6
    fixed = fixed_energies(energy)
    if fixed is not None and len(energy) > 1 and len(fixed) == len(energy):
        fixed = None  # no energy repeats: a handful of showers of continuous energies
    mask = sample.padding_mask
    z = sample.points[..., 2][mask]
    projected = (
        bool(len(z)) and sample.z_units == "layer" and bool(np.all(np.abs(z - np.floor(z) - 0.5) < 1e-3))
    )
    particles, counts = np.unique(pdg, return_counts=True)
    projection = projection_of(files[0])
    return {
        "projected_into": None if projection is None else projection["projected_into"],
        "path": str(path),
        "format": detect_format(files[0]),
        "files": len(files),
        "showers": int(len(energy)),
        "energy_gev": {
            "min": float(energy.min()),
            "max": float(energy.max()),
            "fixed": None if fixed is None else fixed.tolist(),
        },
        "directions": {
            "normal_incidence_fraction": float(normal.mean()),
            "theta_deg": [float(theta.min()), float(theta.max())],
            "phi_deg": [float(phi.min()), float(phi.max())],
        },
        "particles": {
            f"{int(p)} ({SHOWERING_PARTICLES.get(int(p), 'unknown')})": int(c)
            for p, c in zip(particles, counts)
        },
        "z_units": sample.z_units,
        "content": "projected cell hits (z at layer centres)"
        if projected
        else ("raw hits (z in mm)" if sample.z_units == "mm" else "training points (z in layer units)"),
        "points_per_shower": float(sample.num_points.mean()) if len(sample) else 0.0,
        "visible_energy_mev_per_gev": float(
            np.mean(sample.visible_energy_mev / np.maximum(sample.incident_energy_gev, 1e-12))
        )
        if len(sample)
        else 0.0,
        "points_from": int(len(sample)),
    }


def format_description(info: dict) -> list[str]:
    """The lines ``calozoo info FILE`` prints."""
    energy, directions = info["energy_gev"], info["directions"]
    energies = (
        "fixed at " + ", ".join(f"{e:g}" for e in energy["fixed"]) + " GeV"
        if energy["fixed"]
        else f"{energy['min']:.4g} to {energy['max']:.4g} GeV"
    )
    if directions["normal_incidence_fraction"] == 1.0:
        where = "normal incidence (0, 0, 1)"
    else:
        theta, phi = directions["theta_deg"], directions["phi_deg"]
        where = (
            f"θ {theta[0]:.1f}° to {theta[1]:.1f}°, φ {phi[0]:.1f}° to {phi[1]:.1f}° "
            f"({100 * directions['normal_incidence_fraction']:.0f} % at normal incidence)"
        )
    return [
        f"file:      {info['path']}" + (f" ({info['files']} shards)" if info["files"] > 1 else ""),
        f"format:    {info['format']}",
        f"showers:   {info['showers']}",
        f"energies:  {energies}",
        f"directions: {where}",
        "particles: " + ", ".join(f"{k}: {v}" for k, v in info["particles"].items()),
        f"points:    {info['content']}, z in {info['z_units']}"
        + (f", projected into {info['projected_into']}" if info.get("projected_into") else ""),
        f"per shower: {info['points_per_shower']:.0f} points, "
        f"{info['visible_energy_mev_per_gev']:.2f} MeV visible per GeV (first {info['points_from']} showers)",
    ]
