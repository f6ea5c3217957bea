"""Named distributions of incident directions (what ``--directions NAME`` draws).

A distribution is a function ``(n, rng) -> (n, 3)`` local unit directions (the frame of
:mod:`calozoo.conditions`) that draws only from the ``numpy.random.Generator`` it is given, so
the same generator state gives the same directions. The commands draw them shower by shower
(:func:`draw_per_shower`), each shower from its own conditions stream
(:func:`calozoo.seeding.condition_rngs`).

>>> import numpy as np
>>> barrel_ip_directions(3, np.random.default_rng(1)).shape
(3, 3)
"""

from __future__ import annotations

import numpy as np

from .conditions import direction_from_angles

__all__ = [
    "barrel_ip_directions",
    "endcap_ip_directions",
    "draw_per_shower",
    "DIRECTION_DISTRIBUTIONS",
    "STAVE_INNER_RADIUS_MM",
    "ENDCAP_FACE_Z_MM",
]

#: Distance of the ILD ECAL top barrel stave's inner face from the beam, mm (specs/geometry.md).
STAVE_INNER_RADIUS_MM = 1804.8
#: Distance of the ILD ECAL endcaps' front faces from the interaction point along the beam, mm.
ENDCAP_FACE_Z_MM = 2411.8
#: Quadrant 0 of the endcap on its front face, mm: ``x`` from ``-h`` to ``R``, ``y`` from ``h`` to
#: ``R`` (``h`` the hole's half width, ``R`` the octagon's apothem), cut by the octagon's diagonal.
_ENDCAP_HOLE_HALF_WIDTH_MM = 400.0
_ENDCAP_APOTHEM_MM = 2095.84


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


def endcap_ip_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` directions from the interaction point onto quadrant 0 of the +z endcap.

    Straight lines from the interaction point hitting the endcap's front face (at
    :data:`ENDCAP_FACE_Z_MM`) with a uniform density over quadrant 0 of ``ild-ecal-endcap``
    (``x`` from −400 to 2095.84 mm, ``y`` from 400 to 2095.84 mm, inside the octagon:
    ``x + y <= 2095.84 √2``), in the endcap's local frame (``x, y`` global, ``z`` along the
    beam): 9.4° to 43° from the normal. Points are drawn in blocks of ``2 n`` and those outside
    the octagon dropped, until ``n`` are kept. The endcap's training directions, as
    :func:`barrel_ip_directions` are the barrel's.
    """
    h, apothem = _ENDCAP_HOLE_HALF_WIDTH_MM, _ENDCAP_APOTHEM_MM
    points = np.empty((0, 2))
    while len(points) < n:
        x = rng.uniform(-h, apothem, 2 * n)
        y = rng.uniform(h, apothem, 2 * n)
        keep = x + y <= apothem * np.sqrt(2.0)
        points = np.concatenate([points, np.column_stack([x[keep], y[keep]])])
    vectors = np.column_stack([points[:n], np.full(n, ENDCAP_FACE_Z_MM)])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


#: ``--directions NAME`` -> the function (described for ``--help`` in :data:`calozoo.grammar.DIRECTIONS`).
DIRECTION_DISTRIBUTIONS = {"barrel-ip": barrel_ip_directions, "endcap-ip": endcap_ip_directions}


def draw_per_shower(rngs, energy=None, directions=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Drawn incident conditions, shower ``i``'s from ``rngs[i]`` alone (calozoo's convention,
    :mod:`calozoo.seeding`): so they depend on neither the shard size nor the batch size.

    Each shower's stream gives one energy first, ``energy(1, rng)`` (``None``: one uniform draw,
    dropped: the energies are fixed and given elsewhere), then, if ``directions`` is given, its
    direction ``directions(1, rng)``. So the directions do not depend on how the energies are
    given (fixed, uniform or log-uniform: one draw each).

    Args:
        rngs: one ``numpy.random.Generator`` per shower.
        energy: ``(n, rng) -> (n,)`` energies in GeV, or ``None``.
        directions: ``(n, rng) -> (n, 3)`` unit directions (e.g. from
            :data:`DIRECTION_DISTRIBUTIONS`), or ``None``.

    Returns:
        ``(n,)`` energies (``None`` when ``energy`` is ``None``) and ``(n, 3)`` directions
        (``None`` when ``directions`` is ``None``).

    >>> from calozoo.seeding import condition_rngs
    >>> uniform = lambda n, rng: rng.uniform(1.0, 2.0, n)
    >>> e, d = draw_per_shower(condition_rngs(1, 3), uniform, barrel_ip_directions)
    >>> e.shape, d.shape
    ((3,), (3, 3))
    """
    rngs = list(rngs)
    energies = np.empty(len(rngs)) if energy is not None else None
    units = np.empty((len(rngs), 3)) if directions is not None else None
    for i, rng in enumerate(rngs):
        if energy is not None:
            energies[i] = energy(1, rng)[0]
        else:
            rng.random()  # the energy's draw, dropped
        if directions is not None:
            units[i] = directions(1, rng)[0]
    return energies, units
