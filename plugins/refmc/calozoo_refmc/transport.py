"""The compiled particle transport: one shower through a planar slab stack (numba, explicit stack).

A shower is a last-in-first-out stack of photons, electrons and positrons. Photons fly straight
to their next interaction (pair, Compton, photoelectric), counted in mean free paths across slab
boundaries. Charged particles take condensed-history steps limited by the next discrete
interaction (bremsstrahlung above the photon cut, Møller/Bhabha delta ray above the delta cut),
20 % energy loss, a quarter radiation length, 0.2 rad of bending in the field and the next slab
boundary; along a step they lose the restricted continuous energy (Bohr-straggled) and after it
are deflected and displaced by multiple scattering (Highland 1975, PDG eqs. 34.15-34.17).
Deposits in sensitive slabs are recorded as hits at the step's midpoint. Randomness comes from
numba's generator, seeded once per shower, so the same seed gives the same shower.

Energy bookkeeping (per shower, MeV): ``deposited`` (continuous losses), ``local`` (particles
ended below their cut and photoelectric absorption, put down on the spot) and ``escaped``
(kinetic energy leaving the stack, plus 2 m_e for an escaping positron whose annihilation
photons would have carried it) add up to the incident kinetic energy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .photons import E_XRAYLIB_MEV, HC_MEV_ANGSTROM, LN_LOW_MAX, LN_LOW_MIN, N_LINES, N_LOW
from .physics import ELECTRON_MASS_MEV, LN_E_MAX, LN_E_MIN, N_GRID, TWO_PI_MC2_RE2_MEV_MM2

__all__ = ["PHOTON", "ELECTRON", "POSITRON", "simulate_shower"]

PHOTON, ELECTRON, POSITRON = 0, 1, 2
ME = ELECTRON_MASS_MEV
_INV_DLN = (N_GRID - 1) / (LN_E_MAX - LN_E_MIN)
_LN_MIN = LN_E_MIN
_INV_DLN_LOW = (N_LOW - 1) / (LN_LOW_MAX - LN_LOW_MIN)
_STACK_SIZE = 200_000
#: Particles further than this from the axis (mm) are counted as escaped (the stack is
#: transversely unbounded; only low-energy electrons drifting along air gaps get that far).
_MAX_LATERAL_MM = 3000.0
#: Fraction of the kinetic energy an e± may lose continuously in one step.
_MAX_LOSS_FRACTION = 0.2
#: Longest step in radiation lengths (multiple scattering is applied once per step).
_MAX_STEP_X0 = 0.25
#: Largest bending angle per step in the field, rad.
_MAX_BEND_RAD = 0.2
#: Field curvature per (MeV/c) and tesla: 1/R [1/mm] = 0.299792458 B [T] / p [MeV/c].
_CURVATURE = 0.299792458


@njit(cache=True, inline="always")
def _interpolate(table, m, j, f, n):
    """Linear interpolation at grid position ``f`` (clamped to the ``n`` points) of ``table[m, j]``."""
    if f <= 0.0:
        return table[m, j, 0]
    i = int(f)
    if i >= n - 1:
        return table[m, j, n - 1]
    w = f - i
    return table[m, j, i] * (1.0 - w) + table[m, j, i + 1] * w


@njit(cache=True, inline="always")
def _lookup(table, m, j, ln_e):
    """Linear interpolation in a table on the shared log grid of physics.py."""
    return _interpolate(table, m, j, (ln_e - _LN_MIN) * _INV_DLN, N_GRID)


@njit(cache=True, inline="always")
def _lookup_low(table, m, j, ln_e):
    """Linear interpolation in the low-energy photon table (1 keV–0.8 MeV log grid of photons.py)."""
    return _interpolate(table, m, j, (ln_e - LN_LOW_MIN) * _INV_DLN_LOW, N_LOW)


@njit(cache=True)
def _search(values, v):
    """Index ``i`` with ``values[i] <= v < values[i + 1]`` (increasing ``values``; clamped to the ends)."""
    lo, hi = 0, values.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if values[mid] <= v:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True)
def _interp_q2(formf, m, j, q2):
    """Row ``j`` of the medium's form-factor table at momentum transfer squared ``q2`` (1/Å²)."""
    grid = formf[m, 0]
    n = grid.shape[0]
    if q2 >= grid[n - 1]:
        return formf[m, j, n - 1]
    i = _search(grid, q2)
    w = (q2 - grid[i]) / (grid[i + 1] - grid[i])
    return formf[m, j, i] * (1.0 - w) + formf[m, j, i + 1] * w


@njit(cache=True)
def _sample_rayleigh(k, formf, m):
    """cos θ of Rayleigh scattering: q² from the medium's F²(q) by its tabulated inverse CDF, accepted
    with the Thomson factor (1 + cos²θ)/2 (PENELOPE 2008 manual, section 2.1; the distribution of
    GEANT4's G4LivermoreRayleighModel: F²(q) (1 + cos²θ)/2 with EPDL97/Hubbell form factors)."""
    q2max = (k / HC_MEV_ANGSTROM) ** 2
    a_max = _interp_q2(formf, m, 1, q2max)
    cum = formf[m, 1]
    grid = formf[m, 0]
    for _ in range(1000):
        a = np.random.random() * a_max
        i = _search(cum, a)
        da = cum[i + 1] - cum[i]
        w = (a - cum[i]) / da if da > 0.0 else 0.0
        q2 = grid[i] + w * (grid[i + 1] - grid[i])
        cost = 1.0 - 2.0 * q2 / q2max
        if cost < -1.0:
            cost = -1.0
        if 2.0 * np.random.random() <= 1.0 + cost * cost:
            return cost
    return cost


@njit(cache=True)
def _sample_sauter(t):
    """cos θ of a K-shell photo-electron of kinetic energy ``t``: Sauter (Ann. Phys. 11 (1931) 454),
    sampled as GEANT4's G4SauterGavrilaAngularDistribution (PENELOPE 2008, section 2.2); along the
    photon above 50 m_e c²."""
    tau = t / ME
    if tau > 50.0:
        return 1.0
    gamma = tau + 1.0
    beta = math.sqrt(tau * (tau + 2.0)) / gamma
    a = (1.0 - beta) / beta
    ap2 = a + 2.0
    b = 0.5 * beta * gamma * (gamma - 1.0) * (gamma - 2.0)
    grej = 2.0 * (1.0 + a * b) / a
    z = 0.0
    for _ in range(1000):
        q = np.random.random()
        z = 2.0 * a * (2.0 * q + ap2 * math.sqrt(q)) / (ap2 * ap2 - 4.0 * q)
        g = (2.0 - z) * (1.0 / (a + z) + b)
        if g >= np.random.random() * grej:
            break
    return 1.0 - z


@njit(cache=True)
def _rotate(ux, uy, uz, cost, phi):
    """Direction at polar angle acos(cost), azimuth phi around (ux, uy, uz)."""
    if cost > 1.0:
        cost = 1.0
    elif cost < -1.0:
        cost = -1.0
    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
    cp, sp = math.cos(phi), math.sin(phi)
    perp = math.sqrt(ux * ux + uy * uy)
    if perp < 1e-10:
        s = 1.0 if uz > 0 else -1.0
        return sint * cp, sint * sp, s * cost
    nx = ux * cost + sint * (ux * uz * cp - uy * sp) / perp
    ny = uy * cost + sint * (uy * uz * cp + ux * sp) / perp
    nz = uz * cost - sint * perp * cp
    norm = 1.0 / math.sqrt(nx * nx + ny * ny + nz * nz)
    return nx * norm, ny * norm, nz * norm


@njit(cache=True)
def _tsai_angle(total_energy):
    """Polar emission angle of a relativistic e± or brems photon (GEANT4's modified Tsai law)."""
    a = 1.6 if np.random.random() < 0.25 else 1.6 / 3.0
    u = -math.log(np.random.random() * np.random.random()) / a
    return min(u * ME / total_energy, math.pi)


@njit(cache=True)
def _pair_screen(delta, which):
    if delta > 1.0:
        return 42.24 - 8.368 * math.log(delta + 0.952)
    if which == 1:
        return 42.392 - delta * (7.796 - 1.961 * delta)
    return 41.405 - delta * (5.828 - 0.8945 * delta)


@njit(cache=True)
def _sample_pair_fraction(k, z, fc):
    """Electron energy fraction in pair production: screened Bethe–Heitler (Butcher & Messel 1960)."""
    eps0 = ME / k
    if k < 2.0:  # near threshold the sharing is nearly flat
        return eps0 + (0.5 - eps0) * np.random.random()
    z13 = z ** (1.0 / 3.0)
    fz = 8.0 * (math.log(z) / 3.0 + (fc if k > 50.0 else 0.0))
    screenfac = 136.0 * eps0 / z13
    screenmax = math.exp((42.24 - fz) / 8.368) - 0.952
    screenmin = min(4.0 * screenfac, screenmax)
    eps1 = 0.5 - 0.5 * math.sqrt(max(0.0, 1.0 - screenmin / screenmax))
    epsmin = max(eps0, eps1)
    erange = 0.5 - epsmin
    f10 = _pair_screen(screenmin, 1) - fz
    f20 = _pair_screen(screenmin, 2) - fz
    n1 = max(f10 * erange * erange, 0.0)
    n2 = max(1.5 * f20, 0.0)
    for _ in range(1000):
        if n1 / (n1 + n2) > np.random.random():
            eps = 0.5 - erange * np.random.random() ** (1.0 / 3.0)
            g = (_pair_screen(screenfac / (eps * (1.0 - eps)), 1) - fz) / f10
        else:
            eps = epsmin + erange * np.random.random()
            g = (_pair_screen(screenfac / (eps * (1.0 - eps)), 2) - fz) / f20
        if g >= np.random.random():
            return eps
    return eps


@njit(cache=True)
def _sample_compton(k):
    """Scattered photon energy fraction and cos θ: Klein–Nishina, Butcher & Messel's method (EGS4)."""
    e0m = k / ME
    eps0 = 1.0 / (1.0 + 2.0 * e0m)
    eps0sq = eps0 * eps0
    alpha1 = -math.log(eps0)
    alpha2 = alpha1 + 0.5 * (1.0 - eps0sq)
    for _ in range(1000):
        if alpha1 > alpha2 * np.random.random():
            eps = math.exp(-alpha1 * np.random.random())
            epssq = eps * eps
        else:
            epssq = eps0sq + (1.0 - eps0sq) * np.random.random()
            eps = math.sqrt(epssq)
        onecost = (1.0 - eps) / (eps * e0m)
        sint2 = onecost * (2.0 - onecost)
        if 1.0 - eps * sint2 / (1.0 + epssq) >= np.random.random():
            return eps, 1.0 - onecost
    return eps, 1.0 - onecost


@njit(cache=True)
def _sample_compton_bound(k, formf, m):
    """Compton scattering off bound electrons: Klein–Nishina times the incoherent scattering
    function S(q, Z)/Z (Hubbell et al. 1975, xraylib SF_Compt), by rejection of Klein–Nishina
    samples (GEANT4's G4LivermoreComptonModel / PENELOPE's impulse approximation without the
    Doppler broadening, which is ignored here). Above 0.8 MeV: Klein–Nishina."""
    for _ in range(1000):
        eps, cost = _sample_compton(k)
        if k >= E_XRAYLIB_MEV:
            return eps, cost
        q2 = (k / HC_MEV_ANGSTROM) ** 2 * 0.5 * (1.0 - cost)
        if np.random.random() <= _interp_q2(formf, m, 2, q2):
            return eps, cost
    return eps, cost


@njit(cache=True)
def _delta_cross_section(t, cut, positron, n_e):
    """Møller (e−) or Bhabha (e+) cross section (1/mm) for delta rays above ``cut`` (GEANT4 form)."""
    xmin = cut / t
    xmax = 1.0 if positron else 0.5
    if xmin >= xmax:
        return 0.0
    gam = t / ME + 1.0
    gamma2 = gam * gam
    beta2 = 1.0 - 1.0 / gamma2
    if positron:
        y = 1.0 / (1.0 + gam)
        y2 = y * y
        y12 = 1.0 - 2.0 * y
        b1 = 2.0 - y2
        b2 = y12 * (3.0 + y2)
        y122 = y12 * y12
        b4 = y122 * y12
        b3 = b4 + y122
        cross = (xmax - xmin) * (
            1.0 / (beta2 * xmin * xmax)
            + b2
            - 0.5 * b3 * (xmin + xmax)
            + b4 * (xmin * xmin + xmin * xmax + xmax * xmax) / 3.0
        ) - b1 * math.log(xmax / xmin)
    else:
        gg = (2.0 * gam - 1.0) / gamma2
        cross = (
            (xmax - xmin) * (1.0 - gg + 1.0 / (xmin * xmax) + 1.0 / ((1.0 - xmin) * (1.0 - xmax)))
            - gg * math.log(xmax * (1.0 - xmin) / (xmin * (1.0 - xmax)))
        ) / beta2
    return max(cross, 0.0) * TWO_PI_MC2_RE2_MEV_MM2 / t * n_e


@njit(cache=True)
def _sample_delta(t, cut, positron):
    """Delta-ray energy fraction: Møller (e−) or Bhabha (e+) by rejection (GEANT4 G4MollerBhabhaModel)."""
    xmin = cut / t
    gam = t / ME + 1.0
    gamma2 = gam * gam
    beta2 = 1.0 - 1.0 / gamma2
    if positron:
        xmax = 1.0
        y = 1.0 / (1.0 + gam)
        y2 = y * y
        y12 = 1.0 - 2.0 * y
        b1 = 2.0 - y2
        b2 = y12 * (3.0 + y2)
        y122 = y12 * y12
        b4 = y122 * y12
        b3 = b4 + y122
        yy = xmax * xmax
        grej = 1.0 + (yy * yy * b4 - xmin * xmin * xmin * b3 + yy * b2 - xmin * b1) * beta2
        for _ in range(1000):
            q = np.random.random()
            x = xmin * xmax / (xmin * (1.0 - q) + xmax * q)
            yy = x * x
            zz = 1.0 + (yy * yy * b4 - x * yy * b3 + yy * b2 - x * b1) * beta2
            if grej * np.random.random() <= zz:
                return x
        return x
    xmax = 0.5
    gg = (2.0 * gam - 1.0) / gamma2
    grej = (
        1.0 - gg * xmax + xmax * xmax * (1.0 - gg + (1.0 - gg * (1.0 - xmax)) / ((1.0 - xmax) * (1.0 - xmax)))
    )
    for _ in range(1000):
        q = np.random.random()
        x = xmin * xmax / (xmin * (1.0 - q) + xmax * q)
        y = 1.0 - x
        zz = 1.0 - gg * x + x * x * (1.0 - gg + (1.0 - gg * y) / (y * y))
        if grej * np.random.random() <= zz:
            return x
    return x


@njit(cache=True)
def _brems_phi(delta):
    if delta > 1.0:
        v = 21.12 - 4.184 * math.log(delta + 0.952)
        return v, v
    return 20.867 - 3.242 * delta + 0.625 * delta * delta, 20.029 - 1.930 * delta - 0.086 * delta * delta


@njit(cache=True)
def _sample_brems(t, kcut, z, c, bmax):
    """Brems photon energy: 1/k proposal, screened Bethe–Heitler shape (Butcher & Messel; EGS4) to reject."""
    e = t + ME
    z13 = z ** (1.0 / 3.0)
    for _ in range(1000):
        k = kcut * math.exp(np.random.random() * math.log(t / kcut))
        y = k / e
        delta = 136.0 * ME / z13 * y / (e * (1.0 - y))
        phi1, phi2 = _brems_phi(delta)
        shape = (1.0 + (1.0 - y) ** 2) * (phi1 / 4.0 - c) - 2.0 / 3.0 * (1.0 - y) * (phi2 / 4.0 - c)
        if shape >= bmax * np.random.random():
            return k
    return k


@njit(cache=True, inline="always")
def _push(st_kind, st_e, st_pos, st_dir, st_slab, top, kind, energy, x, y, z, ux, uy, uz, slab):
    """Put a secondary on the particle stack at ``top``; returns the new stack height."""
    st_kind[top] = kind
    st_e[top] = energy
    st_pos[top, 0] = x
    st_pos[top, 1] = y
    st_pos[top, 2] = z
    st_dir[top, 0] = ux
    st_dir[top, 1] = uy
    st_dir[top, 2] = uz
    st_slab[top] = slab
    return top + 1


@njit(cache=True)
def _add_hit(hits, n, x, y, z, e, layer):
    if n >= hits.shape[0]:
        bigger = np.zeros((2 * hits.shape[0], 5))
        bigger[:n] = hits[:n]
        hits = bigger
    hits[n, 0] = x
    hits[n, 1] = y
    hits[n, 2] = z
    hits[n, 3] = e
    hits[n, 4] = layer
    return hits


@njit(cache=True)
def _photoabsorb(
    t,
    x,
    y,
    z,
    dx,
    dy,
    dz,
    s,
    m,
    layer,
    ln_e,
    photon_low,
    photon_shells,
    hits,
    n_hits,
    st_kind,
    st_e,
    st_pos,
    st_dir,
    st_slab,
    top,
    local,
):
    """Version 3 photoabsorption of a photon of energy ``t`` at ``(x, y, z)``.

    The (element, shell) is chosen by its share of the medium's photoabsorption cross section
    (xraylib CS_Photo_Partial, Kissel's per-shell data; K, L1, L2, L3, the rest). The vacancy
    relaxes radiatively with the shell's fluorescence yield (xraylib FluorYield; Krause 1979):
    one photon of a line of that shell, chosen by radiative rate (RadRate, LineEnergy; Elam et
    al. 2002), emitted isotropically, as GEANT4's G4UAtomicDeexcitation does with fluorescence
    on; the rest of the binding energy (Auger electrons, range of µm, and the cascade of the
    secondary vacancies) is put down on the spot. Simplifications: only the first radiative
    transition is followed (no cascade of the secondary vacancy, no Coster–Kronig transfer
    between L subshells, no Auger electrons tracked). The photo-electron takes ``t`` minus the
    binding, in the Sauter direction. Returns ``(hits, n_hits, top, local)``.
    """
    ln_c = ln_e if ln_e < LN_LOW_MAX else LN_LOW_MAX  # above xraylib's range: its shares at 0.8 MeV
    u = np.random.random()
    n_channels = photon_shells.shape[1]
    c = 0
    while c < n_channels - 1 and _lookup_low(photon_low, m, 3 + c, ln_c) < u:
        c += 1
    binding = photon_shells[m, c, 0]
    if binding > t:  # an edge smeared by the table's interpolation (within 0.6 % of it)
        binding = t
    fluorescence = 0.0
    if photon_shells[m, c, 1] > 0.0 and np.random.random() < photon_shells[m, c, 1]:
        v = np.random.random()
        j = 0
        while j < N_LINES - 1 and photon_shells[m, c, 3 + 2 * j] < v:
            j += 1
        fluorescence = photon_shells[m, c, 2 + 2 * j]
        if fluorescence > binding:
            fluorescence = 0.0
        if fluorescence > 0.0:
            cost = 2.0 * np.random.random() - 1.0
            sint = math.sqrt(max(0.0, 1.0 - cost * cost))
            phi = 2.0 * math.pi * np.random.random()
            top = _push(
                st_kind,
                st_e,
                st_pos,
                st_dir,
                st_slab,
                top,
                PHOTON,
                fluorescence,
                x,
                y,
                z,
                sint * math.cos(phi),
                sint * math.sin(phi),
                cost,
                s,
            )
    kept = binding - fluorescence
    if kept > 0.0:
        local += kept
        if layer >= 0:
            hits = _add_hit(hits, n_hits, x, y, z, kept, layer)
            n_hits += 1
    electron_energy = t - binding
    if electron_energy > 0.0:
        cost = _sample_sauter(electron_energy)
        ex, ey, ez = _rotate(dx, dy, dz, cost, 2.0 * math.pi * np.random.random())
        top = _push(
            st_kind, st_e, st_pos, st_dir, st_slab, top, ELECTRON, electron_energy, x, y, z, ex, ey, ez, s
        )
    return hits, n_hits, top, local


# ---------------------------------------------------------------- version 3 electron physics
#: Bohr radius and ħc in mm, MeV mm; classical electron radius in mm.
_BOHR_MM = 5.29177210903e-8
_HBARC_MEV_MM = 1.97326980e-10
_RE_MM = 2.8179403262e-12
_ALPHA = 1.0 / 137.035999
#: Hard single scatterings are sampled above this multiple of the Highland width θ0: the Gaussian
#: describes the central ~98 % of Molière's distribution (Highland 1975; Lynch & Dahl, NIM B58
#: (1991) 6), beyond a few θ0 the distribution is the single-scattering (Rutherford) tail.
_MSC_TAIL_THETA0 = 2.5
#: GEANT4 Urban-model step limitation near boundaries ("UseSafety", GEANT4 Physics Reference
#: Manual, "Multiple scattering", step limitation): where the e± could leave the slab, steps are
#: at most max(facrange · range at entry, facsafety · safety), facrange = 0.04, facsafety = 0.6.
_MSC_FACRANGE = 0.04
_MSC_FACSAFETY = 0.6
_MSC_MIN_STEP_MM = 1e-5


@njit(cache=True)
def _wentzel(t, z):
    """Screened-Rutherford (Wentzel) constants for an e± of kinetic energy ``t`` on nuclei ``z``.

    ``dσ/dμ = K / (μ + A)²`` with ``μ = (1 − cos θ)/2``, ``K = π Z(Z+1) r_e² (m_e c²/(pβc))²``
    (the Z+1 for the atomic electrons) and Molière's screening parameter
    ``A = (ħc / (2 p a_TF))² (1.13 + 3.76 (αZ/β)²)``, ``a_TF = 0.88534 a0 Z^-1/3``
    (Molière 1947; as in GEANT4's ``G4WentzelOKandVIxSection``). Returns ``(K [mm²], A)``.
    """
    p = math.sqrt(t * (t + 2.0 * ME))
    beta = p / (t + ME)
    k = math.pi * z * (z + 1.0) * _RE_MM * _RE_MM * (ME / (p * beta)) ** 2
    a_tf = 0.88534 * _BOHR_MM / z ** (1.0 / 3.0)
    chi = _HBARC_MEV_MM / (2.0 * p * a_tf)
    a = chi * chi * (1.13 + 3.76 * (_ALPHA * z / beta) ** 2)
    return k, a


@njit(cache=True)
def _single_scattering_tail(t, z, n_atoms, step, theta_c):
    """Mean number of single scatterings above ``theta_c`` in ``step`` and the constants to sample them."""
    k, a = _wentzel(t, z)
    mu_c = math.sin(0.5 * theta_c) ** 2
    inv_c = 1.0 / (mu_c + a)
    inv_1 = 1.0 / (1.0 + a)
    return step * n_atoms * k * (inv_c - inv_1), inv_c, inv_1, a


@njit(cache=True)
def _sample_single_scattering(inv_c, inv_1, a):
    """cos θ of one screened-Rutherford scattering with μ above the cut: ``1/(μ+A)`` is uniform."""
    mu = 1.0 / (inv_c - np.random.random() * (inv_c - inv_1)) - a
    if mu < 0.0:
        mu = 0.0
    elif mu > 1.0:
        mu = 1.0
    return 1.0 - 2.0 * mu


@njit(cache=True)
def _hinge(x, y, z, ox, oy, oz, dx, dy, dz, step, lo, hi, s):
    """Version 3's random hinge: the step's deflection happens at a uniform point of it.

    The e± was moved the whole ``step`` along its old direction ``o``; the hinge puts the last
    ``(1 − u) step`` on the new direction ``d`` instead (EGSnrc, PENELOPE). Its lateral moments
    are PDG's (rms ``step θ0/√3``, correlation √3/2 with the angle, eqs. 34.16-34.17), and unlike
    straight-then-deflect it shortens the step's advance along ``o`` by ``(1 − u) step (1 − cos θ)``
    (the true versus geometric path length), which straight steps overestimate by the order of
    ``step/λ1`` (most for MeV e± in tungsten). Where the second part leaves the slab the e± stops
    on that face and goes on in the next slab. Returns ``x, y, z, next_slab``.
    """
    seg = np.random.random() * step
    xh, yh, zh = x - seg * ox, y - seg * oy, z - seg * oz
    z_new = zh + seg * dz
    if lo < z_new < hi or dz == 0.0:
        return xh + seg * dx, yh + seg * dy, z_new, s
    b = hi if dz > 0.0 else lo
    f = (b - zh) / dz
    return xh + f * dx, yh + f * dy, b, (s + 1 if dz > 0.0 else s - 1)


@njit(cache=True)
def _urban_fluctuation(mean_loss, tcut, i_mev):
    """Energy loss of a step with mean ``mean_loss`` below ``tcut``: GEANT4's Urban model.

    ``G4UniversalFluctuation`` (GEANT4 11; Physics Reference Manual, "Fluctuations in energy
    loss", K. Lassila-Perini & L. Urban, NIM A362 (1995) 416): one excitation level (energy I·fw,
    Poisson number, 44 % of the loss) and ionisations with a 1/E² spectrum from 10 eV to the cut
    (56 %), the many-collision parts replaced by Gaussians. Gives the Landau–Vavilov shape of thin
    layers with a delta-ray cut far above the most probable loss.
    """
    e0 = 1e-5
    if mean_loss < 1e-5 or tcut <= e0:
        return mean_loss
    rate, fw, a0, ncont = 0.56, 4.0, 42.0, 8.0
    scaling = min(1.0 + 0.0005 / tcut, 1.5)
    mean = mean_loss / scaling
    loss = 0.0
    a1 = 0.0
    e1 = i_mev
    if tcut > e1:
        a1 = mean * (1.0 - rate) / e1
        if a1 < a0:
            fwnow = 0.1 + (fw - 0.1) * math.sqrt(a1 / a0)
            a1 /= fwnow
            e1 *= fwnow
        else:
            a1 /= fw
            e1 *= fw
    w1 = tcut / e0
    a3 = rate * mean * (tcut - e0) / (e0 * tcut * math.log(w1))
    if a1 <= 0.0:
        a3 /= rate
    if a1 > 0.0:
        if a1 > ncont:
            loss += _gauss_positive(a1 * e1, a1 * e1 * e1)
        else:
            n = np.random.poisson(a1)
            if n > 0:
                loss += ((n + 1) - 2.0 * np.random.random()) * e1
    if a3 > 0.0:
        emean = 0.0
        sig2e = 0.0
        p3 = a3
        alfa = 1.0
        if a3 > ncont:
            alfa = w1 * (ncont + a3) / (w1 * ncont + a3)
            alfa1 = alfa * math.log(alfa) / (alfa - 1.0)
            namean = a3 * w1 * (alfa - 1.0) / ((w1 - 1.0) * alfa)
            emean += namean * e0 * alfa1
            sig2e += e0 * e0 * namean * (alfa - alfa1 * alfa1)
            p3 = a3 - namean
        w3 = alfa * e0
        if tcut > w3:
            w = (tcut - w3) / tcut
            n = np.random.poisson(p3)
            for _ in range(n):
                loss += w3 / (1.0 - w * np.random.random())
        if sig2e > 0.0:
            loss += _gauss_positive(emean, sig2e)
    return loss * scaling


@njit(cache=True)
def _gauss_positive(mean, var):
    """GEANT4's ``SampleGauss`` of the Urban model: a Gaussian kept in [0, 2·mean]."""
    sig = math.sqrt(var)
    if mean < 0.25 * sig:
        return mean + (2.0 * np.random.random() - 1.0) * mean
    for _ in range(1000):
        x = mean + sig * np.random.normal()
        if 0.0 <= x <= 2.0 * mean:
            return x
    return mean


@njit(cache=True)
def _annihilation_cross_section(t, n_e):
    """Two-photon annihilation of a positron in flight (1/mm): Heitler's formula per electron.

    ``σ = π r_e² / (γ+1) [ (γ²+4γ+1)/(γ²−1) ln(γ+√(γ²−1)) − (γ+3)/√(γ²−1) ]`` (Heitler, *The
    Quantum Theory of Radiation*, 1954; GEANT4 ``G4eeToTwoGammaModel``).
    """
    gam = t / ME + 1.0
    g2 = gam * gam - 1.0
    if g2 <= 0.0:
        return 0.0
    sq = math.sqrt(g2)
    return (
        math.pi
        * _RE_MM
        * _RE_MM
        / (gam + 1.0)
        * ((gam * gam + 4.0 * gam + 1.0) / g2 * math.log(gam + sq) - (gam + 3.0) / sq)
        * n_e
    )


@njit(cache=True)
def _sample_annihilation(t):
    """Energy fraction ε of the first photon (of T + 2 m_e) and its cos θ: Heitler's spectrum,
    sampled as in GEANT4's ``G4eeToTwoGammaModel`` (1/ε proposal between the kinematic limits)."""
    tau = t / ME
    gam = tau + 1.0
    tau2 = tau + 2.0
    sqgrate = math.sqrt(tau / tau2) * 0.5
    sqg2m1 = math.sqrt(tau * tau2)
    emin = 0.5 - sqgrate
    emax = 0.5 + sqgrate
    lq = math.log(emax / emin)
    eps = 0.5
    for _ in range(1000):
        eps = emin * math.exp(lq * np.random.random())
        grej = 1.0 - eps + (2.0 * gam * eps - 1.0) / (eps * tau2 * tau2)
        if grej >= np.random.random():
            break
    cost = (eps * tau2 - 1.0) / (eps * sqg2m1)
    return eps, min(1.0, max(-1.0, cost))


@njit(cache=True)
def simulate_shower(
    kinetic_mev,
    ux,
    uy,
    uz,
    kind,
    seed,
    bounds,
    slab_medium,
    slab_layer,
    params,
    photon,
    electron,
    field_tesla,
    version,
    photon_low,
    photon_shells,
    photon_formf,
    field_x=1.0,
    field_y=0.0,
    field_z=0.0,
):
    """Transport one incident particle; return ``(hits (n, 5): x, y, z [mm], e [MeV], layer; tallies (3,))``.

    Args:
        kinetic_mev: incident kinetic energy, MeV. ``ux, uy, uz``: unit direction, ``uz > 0``.
        kind: PHOTON, ELECTRON or POSITRON. seed: integer seed of this shower.
        bounds, slab_medium, slab_layer: the stack (``SlabStack`` + ``Tables.slab_medium``).
        params, photon, electron: the :class:`~calozoo_refmc.physics.Tables` arrays.
        field_tesla: magnetic field strength, T.
        version: the physics version (:data:`~calozoo_refmc.physics.PHYSICS_VERSIONS`); what a
            later version adds is switched on by ``version >= N``.
        photon_low, photon_shells, photon_formf: version 3's low-energy photon tables
            (:mod:`calozoo_refmc.photons`; unused in version 2).
        field_x, field_y, field_z: the field's unit direction in the local frame (default
            ``x``, the barrel's beam axis; the endcap's is ``z``, along the shower).

    The tallies are ``(deposited, local, escaped)`` in MeV (see the module docstring).
    """
    np.random.seed(seed)
    n_slabs = slab_medium.shape[0]
    st_kind = np.empty(_STACK_SIZE, np.int8)
    st_e = np.empty(_STACK_SIZE)
    st_pos = np.empty((_STACK_SIZE, 3))
    st_dir = np.empty((_STACK_SIZE, 3))
    st_slab = np.empty(_STACK_SIZE, np.int32)
    hits = np.zeros((4096, 5))
    n_hits = 0
    deposited = 0.0
    local = 0.0
    escaped = 0.0

    st_kind[0] = kind
    st_e[0] = kinetic_mev
    st_pos[0, 0] = 0.0
    st_pos[0, 1] = 0.0
    st_pos[0, 2] = bounds[0]
    st_dir[0, 0] = ux
    st_dir[0, 1] = uy
    st_dir[0, 2] = uz
    st_slab[0] = 0
    top = 1

    while top > 0:
        top -= 1
        p = st_kind[top]
        t = st_e[top]
        x, y, z = st_pos[top, 0], st_pos[top, 1], st_pos[top, 2]
        dx, dy, dz = st_dir[top, 0], st_dir[top, 1], st_dir[top, 2]
        s = st_slab[top]

        if p == PHOTON:
            n_lambda = -math.log(1.0 - np.random.random())
            alive = True
            while alive:
                m = slab_medium[s]
                if t < params[m, 6]:
                    local += t
                    if slab_layer[s] >= 0:
                        hits = _add_hit(hits, n_hits, x, y, z, t, slab_layer[s])
                        n_hits += 1
                    break
                ln_e = math.log(t)
                mu_r = 0.0
                if version >= 3 and t < E_XRAYLIB_MEV:  # xraylib: Rayleigh, bound Compton, photo
                    mu_r = _lookup_low(photon_low, m, 0, ln_e)
                    mu_c = _lookup_low(photon_low, m, 1, ln_e)
                    mu_pe = _lookup_low(photon_low, m, 2, ln_e)
                    mu_p = 0.0  # below the pair threshold
                else:
                    mu_pe = _lookup(photon, m, 0, ln_e)
                    mu_c = _lookup(photon, m, 1, ln_e)
                    mu_p = _lookup(photon, m, 2, ln_e)
                    if version >= 3:  # Rayleigh above xraylib's range: σ ∝ 1/E²
                        mu_r = photon_low[m, 0, N_LOW - 1] * (E_XRAYLIB_MEV / t) ** 2
                mu = mu_pe + mu_c + mu_p
                if version >= 3:
                    mu += mu_r
                if dz > 0.0:
                    d_b = (bounds[s + 1] - z) / dz
                elif dz < 0.0:
                    d_b = (bounds[s] - z) / dz
                else:
                    d_b = 1e30
                d_int = n_lambda / mu
                if d_int >= d_b:
                    x += d_b * dx
                    y += d_b * dy
                    n_lambda -= d_b * mu
                    if dz > 0.0:
                        s += 1
                        z = bounds[s]
                    else:
                        z = bounds[s]
                        s -= 1
                    if s < 0 or s >= n_slabs or abs(x) > _MAX_LATERAL_MM or abs(y) > _MAX_LATERAL_MM:
                        escaped += t
                        alive = False
                    continue
                x += d_int * dx
                y += d_int * dy
                z += d_int * dz
                alive = False
                r = np.random.random() * mu
                if r < mu_p:  # pair production
                    eps = _sample_pair_fraction(t, params[m, 1], params[m, 9] - math.log(params[m, 1]) / 3.0)
                    if np.random.random() < 0.5:
                        eps = 1.0 - eps
                    phi = 2.0 * math.pi * np.random.random()
                    for j in range(2):
                        e_tot = eps * t if j == 0 else (1.0 - eps) * t
                        ex, ey, ez = _rotate(dx, dy, dz, math.cos(_tsai_angle(e_tot)), phi + j * math.pi)
                        kind = ELECTRON if j == 0 else POSITRON
                        top = _push(
                            st_kind,
                            st_e,
                            st_pos,
                            st_dir,
                            st_slab,
                            top,
                            kind,
                            max(e_tot - ME, 0.0),
                            x,
                            y,
                            z,
                            ex,
                            ey,
                            ez,
                            s,
                        )
                elif r < mu_p + mu_c:  # Compton scattering
                    if version >= 3:
                        eps, cost = _sample_compton_bound(t, photon_formf, m)
                    else:
                        eps, cost = _sample_compton(t)
                    k1 = eps * t
                    phi = 2.0 * math.pi * np.random.random()
                    gx, gy, gz = _rotate(dx, dy, dz, cost, phi)
                    px, py, pz = t * dx - k1 * gx, t * dy - k1 * gy, t * dz - k1 * gz
                    pn = math.sqrt(px * px + py * py + pz * pz)
                    top = _push(
                        st_kind, st_e, st_pos, st_dir, st_slab, top, PHOTON, k1, x, y, z, gx, gy, gz, s
                    )
                    # the electron takes the momentum the photon lost (along the photon if none)
                    ux, uy, uz = (px / pn, py / pn, pz / pn) if pn > 0.0 else (dx, dy, dz)
                    top = _push(
                        st_kind, st_e, st_pos, st_dir, st_slab, top, ELECTRON, t - k1, x, y, z, ux, uy, uz, s
                    )
                elif version >= 3 and r >= mu_p + mu_c + mu_pe:  # Rayleigh: new direction, same energy
                    cost = _sample_rayleigh(t, photon_formf, m)
                    gx, gy, gz = _rotate(dx, dy, dz, cost, 2.0 * math.pi * np.random.random())
                    top = _push(
                        st_kind, st_e, st_pos, st_dir, st_slab, top, PHOTON, t, x, y, z, gx, gy, gz, s
                    )
                elif version >= 3:  # photoabsorption by element and shell, fluorescence, Sauter
                    hits, n_hits, top, local = _photoabsorb(
                        t,
                        x,
                        y,
                        z,
                        dx,
                        dy,
                        dz,
                        s,
                        m,
                        slab_layer[s],
                        ln_e,
                        photon_low,
                        photon_shells,
                        hits,
                        n_hits,
                        st_kind,
                        st_e,
                        st_pos,
                        st_dir,
                        st_slab,
                        top,
                        local,
                    )
                else:  # photoelectric absorption: the K-shell binding stays here, an isotropic photo-electron
                    binding = params[m, 10] if t > params[m, 10] else 0.0
                    local += binding
                    if slab_layer[s] >= 0 and binding > 0.0:
                        hits = _add_hit(hits, n_hits, x, y, z, binding, slab_layer[s])
                        n_hits += 1
                    cost = 2.0 * np.random.random() - 1.0
                    sint = math.sqrt(1.0 - cost * cost)
                    phi = 2.0 * math.pi * np.random.random()
                    ux, uy = sint * math.cos(phi), sint * math.sin(phi)
                    top = _push(
                        st_kind,
                        st_e,
                        st_pos,
                        st_dir,
                        st_slab,
                        top,
                        ELECTRON,
                        t - binding,
                        x,
                        y,
                        z,
                        ux,
                        uy,
                        cost,
                        s,
                    )
                if top > _STACK_SIZE - 4:
                    raise RuntimeError("reference MC particle stack overflow")
            continue

        # ------------------------------------------------------------ electrons and positrons
        positron = p == POSITRON
        charge = 1.0 if positron else -1.0
        range_init = -1.0  # version 3: the CSDA range on entering the current slab (step limit)
        alive = True
        while alive:
            m = slab_medium[s]
            layer = slab_layer[s]
            stop = t <= params[m, 4]  # below the tracking cut: stop here
            if version >= 3 and not stop:
                # range-out (version 3): an e± whose CSDA range cannot reach either face of its
                # slab ends in it; GEANT4 would track it to rest there, within that range
                safety = min(z - bounds[s], bounds[s + 1] - z)
                stop = _lookup(electron, m, 4 if positron else 3, math.log(t)) < safety
            if stop:
                local += t
                if layer >= 0:
                    hits = _add_hit(hits, n_hits, x, y, z, t, layer)
                    n_hits += 1
                if positron:  # annihilation at rest: two back-to-back 511 keV photons
                    cost = 2.0 * np.random.random() - 1.0
                    sint = math.sqrt(1.0 - cost * cost)
                    phi = 2.0 * math.pi * np.random.random()
                    for j in range(2):
                        sign = 1.0 if j == 0 else -1.0
                        ux, uy, uz = sign * sint * math.cos(phi), sign * sint * math.sin(phi), sign * cost
                        top = _push(
                            st_kind, st_e, st_pos, st_dir, st_slab, top, PHOTON, ME, x, y, z, ux, uy, uz, s
                        )
                break
            x0 = params[m, 0]
            n_e = params[m, 2]
            delta_cut = params[m, 3]
            kcut = params[m, 5]
            ln_e = math.log(t)
            dedx = _lookup(electron, m, 1 if positron else 0, ln_e)
            sig_b = _lookup(electron, m, 2, ln_e) if t > kcut else 0.0
            sig_d = _delta_cross_section(t, delta_cut, positron, n_e)
            sig_a = _annihilation_cross_section(t, n_e) if positron and version >= 3 else 0.0
            sig = sig_b + sig_d + sig_a
            step = 1e30
            interact = False
            if sig > 0.0:
                step = -math.log(1.0 - np.random.random()) / sig
                interact = True
            s_loss = _MAX_LOSS_FRACTION * t / dedx if dedx > 0.0 else 1e30
            s_x0 = _MAX_STEP_X0 * x0
            pmom = math.sqrt(t * (t + 2.0 * ME))
            s_field = _MAX_BEND_RAD * pmom / (_CURVATURE * field_tesla) if field_tesla > 0.0 else 1e30
            for limit in (s_loss, s_x0, s_field):
                if limit < step:
                    step = limit
                    interact = False
            if version >= 3:
                # GEANT4 Urban-model step limitation (UseSafety): where the e± could leave the
                # slab, short steps, so that multiple scattering near a face (back-scattering out
                # of the tungsten, into and out of the silicon) is resolved
                # (G4UrbanMscModel, fUseSafety: facrange times the range the e± had on entering
                # the volume, or at its first step, not the current range, which would shrink the
                # steps geometrically as it slows down)
                safety = min(z - bounds[s], bounds[s + 1] - z)
                rng = _lookup(electron, m, 4 if positron else 3, ln_e)
                if range_init < 0.0:
                    range_init = rng
                if rng > safety:
                    s_msc = max(_MSC_FACRANGE * range_init, _MSC_FACSAFETY * safety, _MSC_MIN_STEP_MM)
                    if s_msc < step:
                        step = s_msc
                        interact = False
            if dz > 0.0:
                d_b = (bounds[s + 1] - z) / dz
            elif dz < 0.0:
                d_b = (bounds[s] - z) / dz
            else:
                d_b = 1e30
            crossing = False
            if d_b <= step:
                step = d_b
                interact = False
                crossing = True

            # continuous restricted loss with Bohr straggling (Gaussian, kept inside [0, t])
            gam = t / ME + 1.0
            beta2 = 1.0 - 1.0 / (gam * gam)
            mean_loss = dedx * step
            tc = min(delta_cut, t if positron else 0.5 * t)
            var = TWO_PI_MC2_RE2_MEV_MM2 * n_e / beta2 * tc * step * (1.0 - 0.5 * beta2)
            loss = mean_loss
            if version >= 3:  # GEANT4's Urban fluctuation model (the delta cut is GEANT4's too)
                loss = _urban_fluctuation(mean_loss, tc, params[m, 11])
            elif var > 0.0 and mean_loss > 0.0:
                sigma = math.sqrt(var)
                if sigma < 0.5 * mean_loss:
                    loss = mean_loss + sigma * np.random.normal()
                else:  # few collisions: a gamma distribution with the same mean and variance
                    shape = mean_loss * mean_loss / var
                    loss = np.random.gamma(shape, var / mean_loss)
            if loss < 0.0:
                loss = 0.0
            if loss > t:
                loss = t

            # move: straight, or along a helix around the field (chord through the mid direction)
            along_x = field_x == 1.0 and field_y == 0.0 and field_z == 0.0
            if field_tesla > 0.0 and step > 0.0 and along_x:
                angle = charge * _CURVATURE * field_tesla / pmom * step
                ca, sa = math.cos(angle), math.sin(angle)
                ndy = dy * ca + dz * sa
                ndz = -dy * sa + dz * ca
                half_c, half_s = math.cos(0.5 * angle), math.sin(0.5 * angle)
                my = dy * half_c + dz * half_s
                mz = -dy * half_s + dz * half_c
                chord = step * (math.sin(0.5 * angle) / (0.5 * angle) if abs(angle) > 1e-9 else 1.0)
                mx = dx
                x_mid = x + 0.5 * step * dx
                y_mid = y + 0.5 * step * my
                z_mid = z + 0.5 * step * mz
                x += step * mx
                y += chord * my
                z += chord * mz
                dy, dz = ndy, ndz
            elif field_tesla > 0.0 and step > 0.0:
                # any other axis b: the part of the direction along b is kept, the part across it
                # (w) turns about b by the same angle and sense as above: w cos a - (b x w) sin a
                angle = charge * _CURVATURE * field_tesla / pmom * step
                par = dx * field_x + dy * field_y + dz * field_z
                wx, wy, wz = dx - par * field_x, dy - par * field_y, dz - par * field_z
                cx = field_y * wz - field_z * wy
                cy = field_z * wx - field_x * wz
                cz = field_x * wy - field_y * wx
                ca, sa = math.cos(angle), math.sin(angle)
                half_c, half_s = math.cos(0.5 * angle), math.sin(0.5 * angle)
                chord = step * (math.sin(0.5 * angle) / (0.5 * angle) if abs(angle) > 1e-9 else 1.0)
                mpx, mpy, mpz = (
                    wx * half_c - cx * half_s,
                    wy * half_c - cy * half_s,
                    wz * half_c - cz * half_s,
                )
                x_mid = x + 0.5 * (step * par * field_x + step * mpx)
                y_mid = y + 0.5 * (step * par * field_y + step * mpy)
                z_mid = z + 0.5 * (step * par * field_z + step * mpz)
                x += step * par * field_x + chord * mpx
                y += step * par * field_y + chord * mpy
                z += step * par * field_z + chord * mpz
                dx = par * field_x + wx * ca - cx * sa
                dy = par * field_y + wy * ca - cy * sa
                dz = par * field_z + wz * ca - cz * sa
            else:
                x_mid = x + 0.5 * step * dx
                y_mid = y + 0.5 * step * dy
                z_mid = z + 0.5 * step * dz
                x += step * dx
                y += step * dy
                z += step * dz
            # a boundary step ends on the boundary; a curved step overshooting one stops on it
            lo, hi = bounds[s], bounds[s + 1]
            if z_mid < lo:
                z_mid = lo
            elif z_mid > hi:
                z_mid = hi
            next_slab = s
            if crossing or z >= hi or z <= lo:
                if z >= 0.5 * (lo + hi):
                    z = hi
                    next_slab = s + 1
                else:
                    z = lo
                    next_slab = s - 1

            if loss > 0.0:
                t -= loss
                deposited += loss
                if layer >= 0:
                    hits = _add_hit(hits, n_hits, x_mid, y_mid, z_mid, loss, layer)
                    n_hits += 1

            # multiple scattering (Highland), projected angles Gaussian
            if step > 0.0 and t > 0.0:
                t_avg = t + 0.5 * loss
                p_avg = math.sqrt(t_avg * (t_avg + 2.0 * ME))
                beta = p_avg / (t_avg + ME)
                xr = step / x0
                corr = 1.0 + 0.038 * math.log(xr / (beta * beta))
                if corr < 0.3:
                    corr = 0.3
                theta0 = 13.6 / (beta * p_avg) * math.sqrt(xr) * corr
                ox, oy, oz = dx, dy, dz
                if theta0 > 1.0:  # fully randomised direction
                    cost = 2.0 * np.random.random() - 1.0
                    dx, dy, dz = _rotate(dx, dy, dz, cost, 2.0 * math.pi * np.random.random())
                    if version >= 3 and next_slab == s:
                        x, y, z, next_slab = _hinge(x, y, z, ox, oy, oz, dx, dy, dz, step, lo, hi, s)
                else:
                    # two projected planes around the direction (PDG eqs. 34.16-34.17): the
                    # angle z2 θ0 and the correlated lateral displacement s θ0 (z1/√12 + z2/2)
                    if abs(dz) < 0.99:
                        e1x, e1y, e1z = -dy, dx, 0.0
                    else:
                        e1x, e1y, e1z = 0.0, -dz, dy
                    norm = 1.0 / math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
                    e1x, e1y, e1z = e1x * norm, e1y * norm, e1z * norm
                    e2x, e2y, e2z = dy * e1z - dz * e1y, dz * e1x - dx * e1z, dx * e1y - dy * e1x
                    za, zb = np.random.normal(), np.random.normal()
                    ta, tb = theta0 * za, theta0 * zb
                    if version < 3:
                        la = step * theta0 * (np.random.normal() / math.sqrt(12.0) + 0.5 * za)
                        lb = step * theta0 * (np.random.normal() / math.sqrt(12.0) + 0.5 * zb)
                        if next_slab == s:  # a step ending on a boundary stays on it
                            x += la * e1x + lb * e2x
                            y += la * e1y + lb * e2y
                            z_new = z + la * e1z + lb * e2z
                            if lo < z_new < hi:  # never displaced across a boundary
                                z = z_new
                    theta = min(math.sqrt(ta * ta + tb * tb), math.pi)
                    st, ct = math.sin(theta), math.cos(theta)
                    cp, sp = (ta / theta, tb / theta) if theta > 0.0 else (1.0, 0.0)
                    dx = ct * dx + st * (cp * e1x + sp * e2x)
                    dy = ct * dy + st * (cp * e1y + sp * e2y)
                    dz = ct * dz + st * (cp * e1z + sp * e2z)
                    norm = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz)
                    dx, dy, dz = dx * norm, dy * norm, dz * norm
                    if version >= 3 and next_slab == s:
                        x, y, z, next_slab = _hinge(x, y, z, ox, oy, oz, dx, dy, dz, step, lo, hi, s)
                    if version >= 3:
                        # the single-scattering tail (version 3): screened-Rutherford scatterings
                        # above 2.5 θ0, Poisson in number, each at a uniform point of the step,
                        # displacing the end point by (1 − u) s (new − old direction)
                        z_atom = params[m, 1]
                        n_mean, inv_c, inv_1, a_scr = _single_scattering_tail(
                            t_avg, z_atom, n_e / z_atom, step, min(_MSC_TAIL_THETA0 * theta0, math.pi)
                        )
                        n_hard = np.random.poisson(n_mean) if n_mean > 0.0 else 0
                        for _ in range(n_hard):
                            rest = (1.0 - np.random.random()) * step
                            cth = _sample_single_scattering(inv_c, inv_1, a_scr)
                            nx, ny, nz = _rotate(dx, dy, dz, cth, 2.0 * math.pi * np.random.random())
                            if next_slab == s:
                                x += rest * (nx - dx)
                                y += rest * (ny - dy)
                                z_new = z + rest * (nz - dz)
                                if lo < z_new < hi:
                                    z = z_new
                            dx, dy, dz = nx, ny, nz

            if next_slab != s:
                range_init = -1.0
                s = next_slab
                if s < 0 or s >= n_slabs or abs(x) > _MAX_LATERAL_MM or abs(y) > _MAX_LATERAL_MM:
                    escaped += t + (2.0 * ME if positron else 0.0)
                    alive = False
                    break
                continue
            if abs(x) > _MAX_LATERAL_MM or abs(y) > _MAX_LATERAL_MM:
                escaped += t + (2.0 * ME if positron else 0.0)
                break

            if interact and t > 0.0:
                # the cross sections at the step's start: a discrete interaction now
                sig_b = _lookup(electron, m, 2, math.log(t)) if t > kcut else 0.0
                sig_d = _delta_cross_section(t, delta_cut, positron, n_e)
                sig_a = _annihilation_cross_section(t, n_e) if positron and version >= 3 else 0.0
                if sig_b + sig_d + sig_a <= 0.0:
                    continue
                e_tot = t + ME
                r = np.random.random() * (sig_b + sig_d + sig_a)
                if sig_a > 0.0 and r >= sig_b + sig_d:
                    # annihilation in flight (version 3): two photons sharing T + 2 m_e (Heitler)
                    eps, cost = _sample_annihilation(t)
                    k1 = eps * (t + 2.0 * ME)
                    gx, gy, gz = _rotate(dx, dy, dz, cost, 2.0 * math.pi * np.random.random())
                    p0 = math.sqrt(t * (t + 2.0 * ME))
                    px, py, pz = p0 * dx - k1 * gx, p0 * dy - k1 * gy, p0 * dz - k1 * gz
                    pn = math.sqrt(px * px + py * py + pz * pz)
                    top = _push(
                        st_kind, st_e, st_pos, st_dir, st_slab, top, PHOTON, k1, x, y, z, gx, gy, gz, s
                    )
                    top = _push(
                        st_kind,
                        st_e,
                        st_pos,
                        st_dir,
                        st_slab,
                        top,
                        PHOTON,
                        t + 2.0 * ME - k1,
                        x,
                        y,
                        z,
                        px / pn,
                        py / pn,
                        pz / pn,
                        s,
                    )
                    break
                if r < sig_b:
                    k = _sample_brems(t, kcut, params[m, 1], params[m, 9], params[m, 8])
                    ex, ey, ez = _rotate(
                        dx, dy, dz, math.cos(_tsai_angle(e_tot)), 2.0 * math.pi * np.random.random()
                    )
                    top = _push(
                        st_kind, st_e, st_pos, st_dir, st_slab, top, PHOTON, k, x, y, z, ex, ey, ez, s
                    )
                    t -= k
                else:
                    frac = _sample_delta(t, delta_cut, positron)
                    td = frac * t
                    # two-body kinematics: cos θ of the delta ray and of the primary
                    p0 = math.sqrt(t * (t + 2.0 * ME))
                    pd = math.sqrt(td * (td + 2.0 * ME))
                    cosd = min(1.0, td * (e_tot + ME) / (pd * p0))
                    t1 = t - td
                    p1 = math.sqrt(t1 * (t1 + 2.0 * ME))
                    cos1 = min(1.0, (t1 * (e_tot + ME)) / (p1 * p0)) if p1 > 0.0 else 1.0
                    phi = 2.0 * math.pi * np.random.random()
                    ex, ey, ez = _rotate(dx, dy, dz, cosd, phi)
                    if td <= params[m, 4]:  # below the tracking cut: absorbed on the spot
                        local += td
                        if layer >= 0:
                            hits = _add_hit(hits, n_hits, x, y, z, td, layer)
                            n_hits += 1
                    else:
                        top = _push(
                            st_kind, st_e, st_pos, st_dir, st_slab, top, ELECTRON, td, x, y, z, ex, ey, ez, s
                        )
                    dx, dy, dz = _rotate(dx, dy, dz, cos1, phi + math.pi)
                    t = t1
                if top > _STACK_SIZE - 4:
                    raise RuntimeError("reference MC particle stack overflow")

    tallies = np.array([deposited, local, escaped])
    return hits[:n_hits].copy(), tallies
