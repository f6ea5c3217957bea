"""Fit the ILD barrel's photon-energy calibration on reference-MC photons and store it with the facts.

    python geometries/ild/scripts/fit_photon_calibration.py --per-energy 100 --seed 1

Single photons at fixed energies enter the barrel at random points of its staves' faces, coming
from the interaction point (:func:`calozoo.reconstruction.benchmarks.face_points`); the reference
MC (default physics) makes their showers; the photon finder clusters them with no minimum photon
energy; the weights of :class:`calozoo.reconstruction.PhotonCalibration` (one per group of layers
with the same tungsten) are fitted on the leading photons, and written to ``photon_calibration``
to ``calozoo_ild/photon_calibration.json`` (the barrel's default calibration).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import calozoo
from calozoo.reconstruction import PhotonCalibration, PhotonFinder
from calozoo.reconstruction.benchmarks import entry_rays, face_points
from calozoo.reconstruction.events import sample_events

ENERGIES = (1, 2, 5, 10, 20, 50, 100, 127)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-energy", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--physics-version", type=int, default=None)
    args = parser.parse_args()
    geometry = calozoo.geometry("ild-ecal-barrel")
    options = {} if args.physics_version is None else {"physics_version": args.physics_version}
    reference = calozoo.load("reference-mc", **options)
    rng = np.random.default_rng(args.seed)
    energy = np.repeat(np.asarray(ENERGIES, dtype=float), args.per_energy)
    stave, face = face_points(geometry, len(energy), rng)
    point, direction = entry_rays(geometry, stave, face, "ip")
    events = sample_events(
        reference, geometry, energy, point, direction, np.arange(len(energy)), seed=args.seed, progress=True
    )
    groups = geometry.calibration_layer_groups
    finder = PhotonFinder(
        geometry.cell_size_mm, PhotonCalibration(groups, [1e-3] * len(groups)), min_energy_gev=0.0
    )
    photons = finder.find(events)
    lead = photons.leading()
    ok = lead >= 0
    calibration = PhotonCalibration.fit(photons.layer_energy_mev[lead[ok]], energy[ok], groups)
    ratio = calibration.energy_gev(photons.layer_energy_mev[lead[ok]]) / energy[ok]
    for e in ENERGIES:
        sel = energy[ok] == e
        print(f"{e:6.0f} GeV: E_reco / E = {ratio[sel].mean():.4f} ± {ratio[sel].std():.4f}")
    path = Path(__import__("calozoo_ild").__file__).parent / "photon_calibration.json"
    data = {
        **json.loads(calibration.to_json()),
        "fitted_by": "python geometries/ild/scripts/fit_photon_calibration.py "
        f"--per-energy {args.per_energy} --seed {args.seed}",
        "reference": f"reference-mc, physics version {reference.physics_version}",
    }
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
    print("weights (GeV per MeV):", calibration.weights, "->", path.name)


if __name__ == "__main__":
    main()
