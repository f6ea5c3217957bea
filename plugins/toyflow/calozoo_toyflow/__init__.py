"""calozoo-toyflow: the toy shower models ``toy-gamma`` and ``toyflow``, a worked example of a plugin.

Importing this package is cheap (no torch, no numpy): calozoo imports :mod:`calozoo_toyflow.plugin`
to list the models, and the heavy modules (:mod:`.gamma`, :mod:`.model`) load only when a model
is created.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
