"""Writes ``reference_50gev.json`` (the fidelity test's reference) from a CaloClouds2 test set::

calozoo simulate cc2test -n 4000 --preset cc2-training --seed 22
python plugins/caloclouds2/tests/make_reference.py cc2test
"""

import json
import sys
from pathlib import Path

import numpy as np

import calozoo
from calozoo.io import read_showers
from calozoo.showers import concatenate


def main(folder: str) -> None:
    showers = concatenate([read_showers(f) for f in sorted(Path(folder).glob("shard-*.h5"))])
    chosen = showers[
        np.flatnonzero((showers.incident_energy_gev >= 45) & (showers.incident_energy_gev <= 55))
    ]
    hits = calozoo.geometry("ild-ecal-barrel").project(chosen).showers.num_points
    settings = json.loads((Path(folder) / "reference-mc.json").read_text())
    out = {
        "made_by": f"plugins/caloclouds2/tests/make_reference.py on a data set made with {settings}",
        "physics_version": settings.get("physics_version", 1),
        "energy_gev": [45, 55],
        "n_showers": int(len(chosen)),
        "visible_energy_mev": float(chosen.visible_energy_mev.mean()),
        "points": float(chosen.num_points.mean()),
        "barrel_hits": float(hits.mean()),
    }
    Path(__file__).with_name("reference_50gev.json").write_text(json.dumps(out, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
