"""calozoo-caloclouds2: CaloClouds2 (arXiv:2309.05704), the predecessor CaloClouds3 is measured against.

Built from CaloClouds3's parts (:mod:`calozoo_caloclouds3`): the same ShowerFlow class with
CaloClouds2's 65 targets and 10 blocks, the same point network (wider, conditioned on energy and
number of points), the same training stages and one-step distillation. What is CaloClouds2's own:

- :mod:`.recipe` — its conditioning and flow targets (a :class:`calozoo_caloclouds3.recipe.Recipe`);
- :mod:`.chain` — counts and energies from normalised fractions, the polynomial occupancy
  correction, the shift to the flow's centre of gravity;
- :mod:`.model` — :class:`~.model.CaloClouds2` (photons, normal incidence only);
- :mod:`.calibration` — the calibrator fitting the occupancy polynomials for a geometry.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
