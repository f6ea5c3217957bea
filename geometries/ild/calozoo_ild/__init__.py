"""calozoo-ild: the ILD ECAL geometries for calozoo, ``ild-ecal-regular`` and ``ild-ecal-barrel``.

Importing this package is cheap (no numpy): calozoo imports :mod:`calozoo_ild.plugin` to list the
geometries; :mod:`.regular` and :mod:`.barrel` (and the facts in ``ild_ecal.json``) load only
when a geometry is created.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
