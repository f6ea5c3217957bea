"""Named distributions of incident directions (what ``--directions NAME`` draws).

A distribution is a function ``(n, rng) -> (n, 3)`` local unit directions (the frame of
:mod:`calozoo.conditions`) that draws only from the ``numpy.random.Generator`` it is given, so
the same generator state gives the same directions.

>>> import numpy as np
>>> barrel_ip_directions(3, np.random.default_rng(1)).shape
(3, 3)
"""

from __future__ import annotations

import numpy as np

from .conditions import direction_from_angles

__all__ = ["barrel_ip_directions", "DIRECTION_DISTRIBUTIONS", "STAVE_INNER_RADIUS_MM"]

#: Distance of the ILD ECAL top barrel stave's inner face from the beam, mm (specs/geometry.md).
STAVE_INNER_RADIUS_MM = 1804.8


def barrel_ip_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` directions from the interaction point onto the top barrel stave (CaloClouds3's).

    The CaloClouds3 training distribution of directions: straight lines from the interaction
    point hitting the top barrel stave with a uniform density on its inner face (at
    :data:`STAVE_INNER_RADIUS_MM` from the beam), within 30° < θ < 150° and 80° < φ < 110° (θ to
    the beam, φ the azimuth, θ = φ = 90° normal incidence). The face is not cut at the barrel's
    half-length: the angular window alone defines the set. Points are drawn on the face in
    blocks of ``2 n`` (across, then along the beam) and those outside the θ window dropped,
    until ``n`` are kept.
    """
    radius = STAVE_INNER_RADIUS_MM
    across_lo, across_hi = radius / np.tan(np.radians(110.0)), radius / np.tan(np.radians(80.0))
    along_max = np.hypot(radius, max(abs(across_lo), abs(across_hi))) / np.tan(np.radians(30.0))
    theta, phi = np.empty(0), np.empty(0)
    while len(theta) < n:  # uniform on the face, keep the points inside the θ window
        across = rng.uniform(across_lo, across_hi, 2 * n)
        along = rng.uniform(-along_max, along_max, 2 * n)
        t = np.degrees(np.arctan2(np.hypot(radius, across), along))
        p = np.degrees(np.arctan2(radius, across))
        keep = (t > 30.0) & (t < 150.0)
        theta, phi = np.concatenate([theta, t[keep]]), np.concatenate([phi, p[keep]])
    return direction_from_angles(theta[:n], phi[:n])


#: ``--directions NAME`` -> the function (described for ``--help`` in :data:`calozoo.grammar.DIRECTIONS`).
DIRECTION_DISTRIBUTIONS = {"barrel-ip": barrel_ip_directions}
