"""The command line's shared words for incident conditions, one grammar for every command.

``calozoo generate`` and ``calozoo simulate`` (and any plugin command that makes showers) take
their incident conditions with the same options, parsed here:

=====================================  ====================================================
``-n/--n-showers N``                   the number of showers
``--energy 50``                        a fixed energy in GeV
``--energy 10,50,100``                 fixed energies in equal shares, cycled in order
                                       (10, 50, 100, 10, ...); a repeated ``--energy 10
                                       --energy 50`` is the same as ``10,50``
``--energy 10:100``                    uniform in 10-100 GeV
``--energy log:1:127``                 log-uniform in 1-127 GeV
``--theta T --phi P``                  a fixed direction from angles in degrees
``--direction px,py,pz``               a fixed local unit direction
``--directions barrel-ip``             a named distribution of directions
                                       (:data:`calozoo.distributions.DIRECTION_DISTRIBUTIONS`)
``--like REF``                         every shower's conditions from a file or shard folder
``-o/--output OUT``                    where the command writes (``project``, ``preprocess``
                                       and ``simulate`` also take it as their last argument)
=====================================  ====================================================

Every energy is a positive, finite number of GeV and a range needs ``LOW < HIGH``; anything
else is a :class:`click.BadParameter` saying what is accepted. This module imports only click
at import time (the command line's listings stay fast); numpy is imported when values are drawn.

>>> parse_energy("10,50,100").sample(5, None).tolist()
[10.0, 50.0, 100.0, 10.0, 50.0]
>>> parse_energy("log:1:127")
EnergySpec(kind='log-uniform', values=(1.0, 127.0))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import click

__all__ = [
    "EnergySpec",
    "DirectionSpec",
    "parse_energy",
    "parse_direction",
    "resolve_directions",
    "draw_conditions",
    "ENERGY_FORMS",
    "DIRECTIONS",
    "n_showers_option",
    "energy_option",
    "direction_options",
    "output_option",
    "resolve_output",
]

#: What ``--energy`` accepts, as every error message and help text says it.
ENERGY_FORMS = (
    "a number of GeV (50), fixed energies in equal shares (10,50,100), a uniform range LOW:HIGH "
    "(10:100) or a log-uniform range log:LOW:HIGH (log:1:127)"
)

#: ``--directions NAME`` -> what it draws (the functions: calozoo.distributions.DIRECTION_DISTRIBUTIONS).
DIRECTIONS = {
    "barrel-ip": "from the interaction point, uniform on the top barrel stave's inner face within "
    "θ 30-150° and φ 80-110° (CaloClouds3's training directions)",
    "endcap-ip": "from the interaction point, uniform on quadrant 0 of the +z endcap's front face "
    "(9-43° from the normal; the endcap's training directions)",
}


def draw_conditions(energy: EnergySpec, directions: DirectionSpec | None, seed: int, n: int, start: int = 0):
    """The conditions ``generate`` and ``simulate`` give showers ``start .. start + n - 1`` of a
    job seeded ``seed``: ``(n,)`` energies and ``(n, 3)`` directions (``None``: normal incidence).

    Fixed energies are cycled in order; a fixed direction is repeated. Whatever is drawn comes
    from each shower's own conditions stream (:func:`calozoo.seeding.condition_rngs`), one energy
    first (one draw, dropped when the energies are fixed), then the direction
    (:func:`calozoo.distributions.draw_per_shower`): independent of the model's stream, of the
    shard size and of the batch size. Nothing is drawn when nothing is random.
    """
    import numpy as np

    fixed_energy = np.resize(np.asarray(energy.values, dtype=np.float64), n) if not energy.is_range else None
    drawn_direction = directions is not None and directions.kind != "fixed"
    if fixed_energy is not None and not drawn_direction:
        unit = (
            None if directions is None else np.tile(np.asarray(directions.vector, dtype=np.float64), (n, 1))
        )
        return fixed_energy, unit
    from .distributions import DIRECTION_DISTRIBUTIONS, draw_per_shower
    from .seeding import condition_rngs

    energies, unit = draw_per_shower(
        condition_rngs(seed, n, start=start),
        energy.sample if energy.is_range else None,
        DIRECTION_DISTRIBUTIONS[directions.kind] if drawn_direction else None,
    )
    if unit is None and directions is not None:
        unit = directions.sample(n, None)  # fixed: repeated
    return (fixed_energy if energies is None else energies), unit


@dataclass(frozen=True)
class EnergySpec:
    """Incident energies in GeV as ``--energy`` gives them.

    Attributes:
        kind: ``"fixed"``, ``"uniform"`` or ``"log-uniform"``.
        values: the fixed energies in order, or ``(LOW, HIGH)`` of a range.
    """

    kind: str
    values: tuple[float, ...]

    @property
    def is_range(self) -> bool:
        return self.kind != "fixed"

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def sample(self, n: int, rng):
        """``(n,)`` float64 energies: fixed ones cycled in order (``rng`` unused, may be ``None``);
        a range drawn with exactly ``n`` draws of ``rng.uniform`` (log-uniform: uniform in log E)."""
        import numpy as np

        if self.kind == "fixed":
            return np.resize(np.asarray(self.values, dtype=np.float64), n)
        low, high = self.values
        if self.kind == "uniform":
            return rng.uniform(low, high, n)
        return np.exp(rng.uniform(math.log(low), math.log(high), n))

    def __str__(self) -> str:
        numbers = [f"{v:g}" for v in self.values]
        if self.kind == "fixed":
            return ",".join(numbers)
        return ("log:" if self.kind == "log-uniform" else "") + ":".join(numbers)


def _numbers(text: str, separator: str, value: str) -> list[float]:
    try:
        numbers = [float(part) for part in text.split(separator)]
    except ValueError:
        raise click.BadParameter(f"expected {ENERGY_FORMS}, got {value!r}") from None
    if not all(math.isfinite(x) and x > 0 for x in numbers):
        raise click.BadParameter(
            f"energies must be positive, finite numbers of GeV, got {value!r} (expected {ENERGY_FORMS})"
        )
    return numbers


def _parse_one(value: str) -> EnergySpec:
    text = value.strip()
    kind = "uniform"
    if text.lower().startswith("log:"):
        kind, text = "log-uniform", text[4:]
    elif "," in text and ":" not in text:
        return EnergySpec("fixed", tuple(_numbers(text, ",", value)))
    parts = _numbers(text, ":", value)
    if len(parts) == 1 and kind == "uniform":
        return EnergySpec("fixed", (parts[0],))
    if len(parts) != 2:
        raise click.BadParameter(f"expected {ENERGY_FORMS}, got {value!r}")
    if not parts[0] < parts[1]:
        raise click.BadParameter(f"a range needs LOW < HIGH, got {value!r} (expected {ENERGY_FORMS})")
    return EnergySpec(kind, (parts[0], parts[1]))


def parse_energy(value: str | Sequence[str]) -> EnergySpec:
    """Parse ``--energy``: one text, or the texts of a repeated option (fixed energies only).

    >>> parse_energy("50"), parse_energy(["10", "50"]) == parse_energy("10,50")
    (EnergySpec(kind='fixed', values=(50.0,)), True)
    >>> parse_energy("10:100")
    EnergySpec(kind='uniform', values=(10.0, 100.0))

    Raises:
        click.BadParameter: not one of the accepted forms, a number that is not positive and
            finite, a range with ``LOW >= HIGH``, or a range among repeated values.
    """
    texts = [value] if isinstance(value, str) else list(value)
    if not texts:
        raise click.BadParameter(f"expected {ENERGY_FORMS}, got nothing")
    specs = [_parse_one(text) for text in texts]
    if len(specs) == 1:
        return specs[0]
    ranges = [text for text, spec in zip(texts, specs) if spec.is_range]
    if ranges:
        raise click.BadParameter(
            f"a range ({ranges[0]!r}) cannot be combined with other --energy values: repeat "
            "--energy only for fixed energies (--energy 10 --energy 50 is --energy 10,50)"
        )
    return EnergySpec("fixed", tuple(v for spec in specs for v in spec.values))


def parse_direction(value: str) -> list[float]:
    """``"0,0,1"`` -> ``[0.0, 0.0, 1.0]``: ``--direction px,py,pz`` (checked as a unit vector later,
    by the model's conditions)."""
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or not all(math.isfinite(p) for p in parts):
        raise click.BadParameter(
            f"expected three comma-separated numbers px,py,pz, got {value!r}", param_hint="'--direction'"
        )
    return parts


@dataclass(frozen=True)
class DirectionSpec:
    """Incident directions as the options give them.

    Attributes:
        kind: ``"fixed"`` or the name of a distribution (``"barrel-ip"``).
        vector: the local unit direction when fixed.
    """

    kind: str
    vector: tuple[float, float, float] | None = None

    def sample(self, n: int, rng):
        """``(n, 3)`` directions: the fixed one repeated, or ``n`` draws of the distribution."""
        import numpy as np

        if self.kind == "fixed":
            return np.tile(np.asarray(self.vector, dtype=np.float64), (n, 1))
        from .distributions import DIRECTION_DISTRIBUTIONS

        return DIRECTION_DISTRIBUTIONS[self.kind](n, rng)


def resolve_directions(
    theta: float | None, phi: float | None, direction: str | None, directions: str | None
) -> DirectionSpec | None:
    """The direction words of a command as one :class:`DirectionSpec`, ``None`` if none was given.

    Raises:
        click.UsageError: more than one way of giving directions, or ``--theta`` without
            ``--phi`` (or the reverse).
    """
    given = [
        name
        for name, value in (
            ("--theta/--phi", theta if theta is not None else phi),
            ("--direction", direction),
        )
        if value is not None
    ] + ([f"--directions {directions}"] if directions is not None else [])
    if len(given) > 1:
        raise click.UsageError(
            f"give one of --theta/--phi, --direction or --directions, not {' and '.join(given)}"
        )
    if (theta is None) != (phi is None):
        raise click.UsageError("--theta and --phi go together")
    if directions is not None:
        return DirectionSpec(directions)
    if direction is not None:
        return DirectionSpec("fixed", tuple(parse_direction(direction)))
    if theta is not None:
        from .conditions import direction_from_angles

        return DirectionSpec("fixed", tuple(direction_from_angles(theta, phi).tolist()))
    return None


# ---------------------------------------------------------------------------------------------
# The options themselves: every command that makes showers declares them with these.


def n_showers_option(note: str):
    """``-n/--n-showers N``; ``note`` says in the help what happens when it is left out."""
    return click.option(
        "-n",
        "--n-showers",
        "n_showers",
        type=click.IntRange(min=1),
        default=None,
        help=f"Number of showers {note}.",
    )


def _energy_callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]):
    try:
        return parse_energy(value) if value else None
    except click.BadParameter as err:
        err.ctx, err.param = ctx, param
        raise


def energy_option(extra: str = "", default: str | None = None):
    """``--energy E``, parsed into an :class:`EnergySpec` (``None`` when not given and no default).

    Repeatable: ``--energy 10 --energy 50`` is ``--energy 10,50``.
    """
    return click.option(
        "--energy",
        multiple=True,
        default=(default,) if default is not None else (),
        metavar="E",
        callback=_energy_callback,
        help="Incident energy in GeV: 50 (fixed), 10,50,100 (fixed, equal shares in this order; "
        "--energy repeated means the same), 10:100 (uniform) or log:1:127 (log-uniform)"
        + (f"  [default: {default}]" if default is not None else "")
        + (f". {extra}" if extra else "."),
    )


def direction_options(default: str):
    """``--theta``/``--phi``, ``--direction`` and ``--directions``; ``default`` says in the help
    what happens when none of them is given."""
    options = [
        click.option(
            "--theta",
            type=float,
            help="Polar angle to the beam in degrees, with --phi (90 = normal incidence). "
            f"Without --theta/--phi, --direction or --directions: {default}.",
        ),
        click.option(
            "--phi", type=float, help="Azimuth in degrees, with --theta (90 = normal on the top stave)."
        ),
        click.option(
            "--direction", metavar="PX,PY,PZ", help="A fixed local unit direction (instead of --theta/--phi)."
        ),
        click.option(
            "--directions",
            type=click.Choice(sorted(DIRECTIONS)),
            help="Directions drawn from a named distribution: "
            + "; ".join(f"{name}: {text}" for name, text in sorted(DIRECTIONS.items()))
            + ".",
        ),
    ]

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def seed_option(help: str):
    """``--seed S``: a non-negative integer, 0 by default; the same seed gives the same result."""
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help=help)


def orientation_option():
    """``--orientation hdf5:ABC==local:DEF``: which stored column of the input is which local axis."""
    return click.option(
        "--orientation",
        help="Which stored column is which local axis, e.g. hdf5:xyz==local:yzx (the CaloClouds II-era "
        "data sets: stored y is the layer axis) [default: the file's own statement, else xyz].",
    )


def output_option(help: str, file_okay: bool = True):
    """``-o/--output PATH``: where a command writes (a file, or a folder with ``file_okay=False``)."""
    path = click.Path(dir_okay=False) if file_okay else click.Path(file_okay=False)
    return click.option("-o", "--output", "output_option", type=path, default=None, help=help)


def resolve_output(positional: str | None, option: str | None, metavar: str) -> str:
    """The output of a command that takes it as ``-o OUT`` or, as before, as its last argument.

    Raises:
        click.UsageError: neither given, or both given and different.
    """
    if positional is not None and option is not None and positional != option:
        raise click.UsageError(f"give the output once: -o {option} or {positional}, not both")
    if positional is None and option is None:
        raise click.UsageError(f"give the output with -o/--output {metavar}")
    return option if option is not None else positional
