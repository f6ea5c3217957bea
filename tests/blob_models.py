"""Small numpy-only models for the core tests: one that follows the contract, and broken ones."""

from __future__ import annotations

import click
import numpy as np

from calozoo.conditions import Conditions
from calozoo.interfaces import ShowerModel
from calozoo.seeding import shower_rngs, shower_seeds
from calozoo.showers import Showers


class BlobModel(ShowerModel):
    """Gaussian blobs: about ``points_per_gev`` points per GeV, 2 % of the energy visible."""

    name = "blob"

    def __init__(self, points_per_gev: float = 5.0, width_mm: float = 10.0):
        self.points_per_gev = points_per_gev
        self.width_mm = width_mm

    @property
    def conditions(self) -> Conditions:
        return Conditions(1.0, 100.0, pdg=(22,), max_angle_deg=60.0)

    def generate(self, energy_gev, direction, pdg, seeds):
        clouds = []
        for e, rng in zip(energy_gev, shower_rngs(seeds)):  # shower i from seeds[i] alone
            n = max(1, rng.poisson(self.points_per_gev * e))
            z = rng.uniform(0, self.n_layers, n)
            xy = rng.normal(0, self.width_mm, (n, 2))
            energies = rng.exponential(1.0, n)
            energies *= 0.02 * e * 1000.0 / energies.sum()
            clouds.append(np.column_stack([xy, z, energies]))
        return Showers.from_point_lists(clouds, energy_gev, direction, pdg)

    def get_config(self):
        return {"points_per_gev": self.points_per_gev, "width_mm": self.width_mm}


class SeedlessBlobModel(BlobModel):
    """Breaks the contract: ignores the seeds it is given."""

    def generate(self, energy_gev, direction, pdg, seeds):
        fresh = np.random.default_rng().integers(0, 2**63, len(energy_gev), dtype=np.uint64)
        return super().generate(energy_gev, direction, pdg, fresh)


class GeVBlobModel(BlobModel):
    """Breaks the contract: returns point energies in GeV."""

    def generate(self, energy_gev, direction, pdg, seeds):
        showers = super().generate(energy_gev, direction, pdg, seeds)
        showers.points[..., 3] /= 1000.0
        return showers


class ZeroEnergyBlobModel(BlobModel):
    """Breaks the contract: some real points carry no energy (they would read back as padding)."""

    def generate(self, energy_gev, direction, pdg, seeds):
        showers = super().generate(energy_gev, direction, pdg, seeds)
        showers.points[:, 0, 3] = 0.0
        return showers


class NoCheckBlobModel(BlobModel):
    """Breaks the contract: bypasses the condition checks."""

    def sample(self, energy, direction=None, *, pdg=None, seed=None, batch_size=1000, progress=False):
        energy = np.atleast_1d(np.asarray(energy, dtype=float))
        direction = np.broadcast_to(
            np.asarray(direction if direction is not None else [0, 0, 1.0]), (len(energy), 3)
        )
        return self.generate(energy, direction, np.full(len(energy), 22), shower_seeds(seed, len(energy)))


def load_blob(path=None, **options):
    """Factory in the form plugins register: a saved folder or fresh settings."""
    return BlobModel.load(path) if path is not None else BlobModel(**options)


class BlobPlugin:
    """A plugin object registering the blob model (as a module with hook functions would)."""

    from calozoo import hookimpl

    @staticmethod
    @hookimpl
    def calozoo_register_models(register):
        register("blob", "blob_models:load_blob", summary="Gaussian blobs for tests", energy_gev=(1, 100))

    @staticmethod
    @hookimpl
    def calozoo_register_geometries(register):
        register("flat", "blob_models:flat_geometry", summary="30 planar layers, 5.08833 mm cells")


def flat_geometry(**options):
    """30 planar layers 6.5 mm apart under 5.08833 mm cells (ILD-like, no gaps)."""
    from calozoo.layered import PlanarGeometry

    return PlanarGeometry(np.arange(30) * 6.5 + 3.0, cell_size_mm=5.08833, name="flat", **options)


@click.command("blob-stats")
@click.option("--n", type=int, default=3)
def blob_stats_command(n):
    """Print the mean number of blob points (a plugin-provided sub-command for tests)."""
    click.echo(f"mean points {BlobModel().sample([10.0] * n, seed=0).num_points.mean():.1f}")


class CommandPlugin:
    """Registers a CLI sub-command."""

    from calozoo import hookimpl

    @staticmethod
    @hookimpl
    def calozoo_register_commands(register):
        register("blob-stats", "blob_models:blob_stats_command", summary="mean size of blob showers")
