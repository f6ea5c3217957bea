"""calozoo-caloclouds2: CaloClouds2 (arXiv:2309.05704), the predecessor CaloClouds3 is measured against.

A thin model on the shared engine (:mod:`calozoo_engine`), independent of the CaloClouds3 plugin:

- :mod:`.model` — top to bottom: :class:`~.model.CaloClouds2Recipe` (conditioning, 65 flow
  targets, architectures), its chain (counts and energies from normalised fractions, the
  polynomial occupancy correction, the shift to the flow's centre of gravity) and
  :class:`~.model.CaloClouds2` (photons, normal incidence only);
- :mod:`.calibration` — the calibrator fitting the occupancy polynomials for a geometry;
- :mod:`.export` — its hooks of the engine's TorchScript export for DDFastShowerML;
- :mod:`.cli` — ``calozoo train caloclouds2``.

Importing this package is cheap: calozoo imports only :mod:`.plugin` to list models.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
