"""toy-gamma: an analytic, parametrised photon shower generator for a 30-layer SiW ECAL (numpy only).

Each shower is drawn in three steps, in the spirit of the GFlash parametrisation
(G. Grindhammer, S. Peters, "The parameterized simulation of electromagnetic showers in
homogeneous and sampling calorimeters", arXiv:hep-ex/0001020):

1. **Longitudinal**: the photon converts after an exponential depth (mean 9/7 X0); from there
   the energy follows a Gamma distribution in depth ``t`` (radiation lengths),
   ``dE/dt ∝ t^(α-1) exp(-β t)``, whose maximum ``T = (α - 1) / β`` and shape ``α`` fluctuate
   from shower to shower (correlated log-normals). On average the maximum lies at
   ``ln(E / E_c) + 0.5`` X0 (Longo's photon value), with ``E_c`` the critical energy.
2. **Counts and energies**: layer ``i`` gets a Poisson number of points with mean proportional
   to the energy deposited in it (``points_per_gev`` per GeV of incident energy) and a visible
   energy of ``visible_fraction`` of that deposit, smeared by the silicon's sampling
   fluctuations.
3. **Points**: distances from the axis follow GFlash's two-component (core + tail) radial profile
   ``f(r) = 2 r R² / (r² + R²)²`` with depth-dependent radii; energies are log-normal, rescaled to
   the layer's energy. Points are training points: ``x, y`` relative to the incident trajectory
   (the tilt removed, as the shared preprocessing does for full-simulation hits); projection
   into a geometry puts the tilt back.

It is cheap, needs no data files and has the features a generative model must learn (energy
scaling, fluctuations, the longer path through each layer of an inclined shower), which makes
it the training data of ``toyflow``.

Example:
    >>> model = ToyGammaShowers()
    >>> showers = model.sample(energy=[10.0, 50.0], direction=[0.0, 0.0, 1.0], seed=1)
    >>> showers.points.shape[0], bool(showers.visible_energy_mev[1] > 500)
    (2, True)
"""

from __future__ import annotations

import math
import os

import numpy as np

from calozoo.conditions import Conditions
from calozoo.interfaces import ShowerModel
from calozoo.seeding import shower_rngs
from calozoo.showers import Showers

from .points import build_showers

__all__ = ["ToyGammaShowers", "load_toy_gamma", "random_directions"]

#: Atomic number of the absorber (tungsten); enters GFlash's shape and radial parameters.
Z_ABSORBER = 74.0
#: Mean free path of a high-energy photon before it converts, radiation lengths (9/7 X0).
PHOTON_CONVERSION_X0 = 9.0 / 7.0
#: Midpoint-rule steps per layer when integrating the longitudinal profile.
_SUBSTEPS_PER_LAYER = 12


class ToyGammaShowers(ShowerModel):
    """Analytic photon showers in a 30-layer silicon-tungsten ECAL (not trainable).

    Args:
        points_per_gev: mean number of points per GeV of contained incident energy
            (~6000 points at 100 GeV).
        visible_fraction: fraction of the deposited energy seen by the silicon (~2% in a SiW
            ECAL: a 50 GeV photon leaves ~1000 MeV of points).
        critical_energy_mev: critical energy of the absorber, MeV (tungsten: ~8 MeV).
        x0_per_layer: radiation lengths per layer at normal incidence (30 layers of 0.8 X0 are a
            uniform stand-in for the ILD ECAL's 20 x 0.6 + 10 x 1.2 = 24 X0).
        moliere_radius_mm: effective Molière radius of the sandwich, mm (tungsten alone has 9.3 mm;
            silicon, readout and gaps widen it).
        point_energy_sigma: width of the log-normal point energies inside a layer.
        layer_energy_sigma: relative sampling fluctuation of each layer's visible energy beyond
            the Poisson fluctuation of its point count.
    """

    name = "toy-gamma"

    def __init__(
        self,
        *,
        points_per_gev: float = 60.0,
        visible_fraction: float = 0.02,
        critical_energy_mev: float = 8.0,
        x0_per_layer: float = 0.8,
        moliere_radius_mm: float = 15.0,
        point_energy_sigma: float = 0.7,
        layer_energy_sigma: float = 0.15,
    ) -> None:
        self.points_per_gev = float(points_per_gev)
        self.visible_fraction = float(visible_fraction)
        self.critical_energy_mev = float(critical_energy_mev)
        self.x0_per_layer = float(x0_per_layer)
        self.moliere_radius_mm = float(moliere_radius_mm)
        self.point_energy_sigma = float(point_energy_sigma)
        self.layer_energy_sigma = float(layer_energy_sigma)

    @property
    def conditions(self) -> Conditions:
        return Conditions(energy_min_gev=1.0, energy_max_gev=127.0, pdg=(22,), max_angle_deg=60.0)

    def get_config(self) -> dict:
        return {
            "points_per_gev": self.points_per_gev,
            "visible_fraction": self.visible_fraction,
            "critical_energy_mev": self.critical_energy_mev,
            "x0_per_layer": self.x0_per_layer,
            "moliere_radius_mm": self.moliere_radius_mm,
            "point_energy_sigma": self.point_energy_sigma,
            "layer_energy_sigma": self.layer_energy_sigma,
        }

    # ------------------------------------------------------------------ longitudinal
    def shower_shape(self, energy_gev: np.ndarray, rngs: list[np.random.Generator]) -> dict[str, np.ndarray]:
        """Draw each shower's start, maximum and Gamma shape (GFlash's correlated fluctuations).

        Shower ``i`` draws two standard normals and an exponential from ``rngs[i]``. Returns
        ``(B,)`` arrays: ``start_x0`` (conversion depth), ``t_max_x0`` (depth of the maximum
        behind the front face), ``alpha`` and ``beta`` (per X0) of the Gamma profile.
        """
        log_y = np.log(energy_gev * 1000.0 / self.critical_energy_mev)  # y = E / E_c
        # The maximum lies at ln y + 0.5 X0 on average (Longo); the conversion depth is part of it.
        mean_t = np.maximum(log_y + 0.5 - PHOTON_CONVERSION_X0, 0.5)
        # GFlash's homogeneous-medium fits: <ln α>, the widths of ln T and ln α, their correlation.
        log_alpha = np.log(0.81 + (0.458 + 2.26 / Z_ABSORBER) * log_y)
        sigma_t = 1.0 / (-1.4 + 1.26 * log_y)
        sigma_alpha = 1.0 / (-0.58 + 0.86 * log_y)
        rho = 0.705 - 0.023 * log_y
        draws = np.array(
            [[*rng.standard_normal(2), rng.exponential(PHOTON_CONVERSION_X0)] for rng in rngs]
        ).reshape(-1, 3)
        g1, g2, start = draws.T
        t = mean_t * np.exp(sigma_t * g1 - sigma_t**2 / 2)  # log-normal with mean mean_t
        alpha = np.exp(log_alpha + sigma_alpha * (rho * g1 + np.sqrt(1 - rho**2) * g2))
        alpha = np.maximum(alpha, 1.2)  # keeps the profile finite at its start
        return {"start_x0": start, "t_max_x0": start + t, "alpha": alpha, "beta": (alpha - 1) / t}

    def layer_fractions(self, shape: dict[str, np.ndarray], direction: np.ndarray) -> np.ndarray:
        """``(B, 30)`` fraction of each shower's energy deposited in each layer.

        The Gamma density is integrated over each layer's depth range with the midpoint rule.
        An inclined shower crosses ``1 / p_z`` times more material per layer; energy beyond the
        last layer leaks out (so the fractions add up to the containment, not to 1).
        """
        n_steps = self.n_layers * _SUBSTEPS_PER_LAYER
        step_x0 = self.x0_per_layer / direction[:, 2:3] / _SUBSTEPS_PER_LAYER  # (B, 1)
        depth = (np.arange(n_steps) + 0.5) * step_x0 - shape["start_x0"][:, None]
        alpha, beta = shape["alpha"][:, None], shape["beta"][:, None]
        log_gamma = np.array([math.lgamma(a) for a in shape["alpha"]])[:, None]
        bt = beta * np.maximum(depth, 1e-12)
        density = np.exp((alpha - 1) * np.log(bt) - bt - log_gamma) * beta
        density = np.where(depth > 0, density, 0.0)
        per_step = density * step_x0
        return per_step.reshape(len(depth), self.n_layers, _SUBSTEPS_PER_LAYER).sum(axis=2)

    # ------------------------------------------------------------------ transverse
    def radius_mm(
        self,
        shower: np.ndarray,
        layer: np.ndarray,
        energy_gev: np.ndarray,
        direction: np.ndarray,
        t_max_x0: np.ndarray,
        u: np.ndarray,
    ) -> np.ndarray:
        """Distance of each point from the axis, mm: GFlash's core + tail mixture.

        ``τ = t / T`` is the depth in units of the shower's maximum. The core (radius
        ``R_C(τ)``) dominates early, the wider tail (``R_T(τ)``) grows with depth; the core
        fraction ``p(τ)`` peaks a little before the maximum. ``u``: ``(2, M)`` uniforms in
        ``[0, 1)`` per point (core or tail, then the radius).
        """
        log_e = np.log(energy_gev[shower])
        depth_x0 = (layer + 0.5) * self.x0_per_layer / direction[shower, 2]
        tau = depth_x0 / t_max_x0[shower]
        r_core = 0.0251 + 0.00319 * log_e + (0.1162 - 0.000381 * Z_ABSORBER) * tau
        k1, k2, k3, k4 = 0.659 - 0.00309 * Z_ABSORBER, 0.645, -2.59, 0.3585 + 0.0421 * log_e
        r_tail = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
        p1, p2, p3 = 2.632 - 0.00094 * Z_ABSORBER, 0.401 + 0.00187 * Z_ABSORBER, 1.313 - 0.0686 * log_e
        core_fraction = np.clip(p1 * np.exp((p2 - tau) / p3 - np.exp((p2 - tau) / p3)), 0.0, 1.0)
        radius = np.where(u[0] < core_fraction, r_core, r_tail)
        # Inverse of the CDF r² / (r² + R²); q stops at 0.995 (r < 14 R) to drop the far tail.
        q = 0.995 * u[1]
        return self.moliere_radius_mm * radius * np.sqrt(q / (1.0 - q))

    # ------------------------------------------------------------------ generation
    def generate(
        self, energy_gev: np.ndarray, direction: np.ndarray, pdg: np.ndarray, seeds: np.ndarray
    ) -> Showers:
        # Shower i's numbers come from its own generator (in this order: shape, counts, smearing,
        # points); the maths on them is vectorised over the batch.
        rngs = shower_rngs(seeds)
        shape = self.shower_shape(energy_gev, rngs)
        fractions = self.layer_fractions(shape, direction)  # (B, 30)
        mean_counts = self.points_per_gev * energy_gev[:, None] * fractions
        noise = [(rng.poisson(mean), rng.standard_normal(len(mean))) for rng, mean in zip(rngs, mean_counts)]
        counts = np.array([c for c, _ in noise], dtype=np.int64).reshape(mean_counts.shape)
        normals = np.array([g for _, g in noise]).reshape(mean_counts.shape)
        # A point stands for a fixed share of visible energy, so the layer energy follows the
        # count (Poisson statistics) times the silicon's own sampling fluctuation.
        mev_per_point = 1000.0 * self.visible_fraction / self.points_per_gev
        smear = np.exp(self.layer_energy_sigma * normals - self.layer_energy_sigma**2 / 2)
        layer_energy_mev = mev_per_point * counts * smear

        def radius(shower, layer, u):
            return self.radius_mm(shower, layer, energy_gev, direction, shape["t_max_x0"], u)

        return build_showers(
            counts,
            layer_energy_mev,
            radius_mm=radius,
            point_energy_sigma=self.point_energy_sigma,
            energy_gev=energy_gev,
            direction=direction,
            pdg=pdg,
            rngs=rngs,
        )


def load_toy_gamma(path: str | os.PathLike | None = None, **options) -> ToyGammaShowers:
    """Factory registered as ``toy-gamma``: default settings (``options`` override them) or a saved folder."""
    if path is not None:
        if options:
            raise TypeError(f"options {sorted(options)} cannot be combined with a saved folder")
        return ToyGammaShowers.load(path)
    return ToyGammaShowers(**options)


def random_directions(n: int, max_angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` unit directions at an angle uniform in ``[0, max_angle_deg]`` to ``+z``.

    Uniform in the angle, not in solid angle, so that near-normal incidence (the commonest
    request) is as well covered as steep angles.
    """
    theta = np.radians(rng.uniform(0.0, max_angle_deg, n))
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)
