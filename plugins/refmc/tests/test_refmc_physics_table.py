"""plugins/refmc/scripts/physics_table.py: its analysis on synthetic showers with known answers, and one
small end-to-end run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "physics_table.py"


@pytest.fixture(scope="module")
def pt():
    spec = importlib.util.spec_from_file_location("physics_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transverse_features_known_answers(pt):
    # shower 0: all energy at r = 20 mm (second radial bin); shower 1: 3 MeV at r = 5 mm, 1 MeV at r = 100 mm
    owner = np.array([0, 0, 1, 1])
    x = np.array([20.0, 0.0, 3.0, 0.0])
    y = np.array([0.0, -20.0, 4.0, 100.0])
    e = np.array([1.0, 1.0, 3.0, 1.0])
    f = pt.transverse_features(owner, x, y, e, 3)  # shower 2 is empty
    np.testing.assert_allclose(f["vis"], [2.0, 4.0, 0.0])
    np.testing.assert_allclose(f["radial"][0], np.eye(pt.N_R_BINS)[1] * 2.0)
    assert f["radial"][1, 0] == 3.0 and f["radial"][1, 6] == 1.0  # 100 mm / 15.625 mm = bin 6
    np.testing.assert_allclose(f["core"], [0.0, 3.0, 0.0])
    np.testing.assert_allclose(f["halo"], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(f["cog"], [[10.0, -10.0], [2.25, 28.0], [0.0, 0.0]])
    # beyond 250 mm: in the halo, in no radial bin
    far = pt.transverse_features([0], [300.0], [0.0], [1.0], 1)
    assert far["halo"][0] == 1.0 and far["radial"].sum() == 0.0
    assert pt.N_R_BINS == 16


def test_layers_decades_and_depths(pt):
    lay = pt.layer_energies([0, 0, 1], [2, 2, 29], [1.0, 0.5, 2.0], 2)
    assert lay.shape == (2, 30) and lay[0, 2] == 1.5 and lay[1, 29] == 2.0 and lay.sum() == 3.5
    counts = pt.decade_counts([0, 0, 0, 0, 0, 0, 1], [5e-4, 1e-3, 0.05, 0.5, 9.99, 10.0, 2.0], 2)
    np.testing.assert_array_equal(counts, [[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 0]])
    # a stack: passive | Si (layer 0) | passive | Si (layer 1); a hit a hair outside a Si face
    # (float32 rounding) still goes to that layer
    boundaries = np.array([0.0, 2.0, 2.5, 5.0, 5.5])
    slab_layer = np.array([-1, 0, -1, 1])
    z = np.array([2.2, 1.9999, 2.5001, 5.2, 4.9999])
    np.testing.assert_array_equal(pt.layer_of_depth(z, boundaries, slab_layer), [0, 0, 0, 1, 1])


def test_alternation_of_a_made_up_profile(pt):
    # the second layer of every slab (odd layers) is 1.25x the first (even): every ratio is known
    profile = np.where(np.arange(30) % 2 == 1, 1.25, 1.0)
    alt = pt.alternation(profile)
    assert alt == pytest.approx(
        {"ratio_13_14": 1.25, "ratio_cross_slab_mean": 1.25, "ratio_same_slab_mean": 1.25}
    )
    ramp = np.arange(1.0, 31.0)  # layer k holds k + 1
    alt = pt.alternation(ramp)
    assert alt["ratio_13_14"] == pytest.approx(14 / 15)
    cross = np.mean([(2 * k + 2) / (2 * k + 3) for k in range(14)])
    same = np.mean([(2 * k + 2) / (2 * k + 1) for k in range(15)])
    assert alt["ratio_cross_slab_mean"] == pytest.approx(cross)
    assert alt["ratio_same_slab_mean"] == pytest.approx(same)


def test_quantities_and_bootstrap_of_synthetic_showers(pt):
    n = 4
    layers = np.full((n, 30), 0.01)
    layers[:, 13], layers[:, 14] = 3.0, 2.0
    layers[:, 0] = 5.0
    f = {
        "energy_gev": np.full(n, 10.0),
        "vis_raw": np.full(n, 10.0),  # 10 MeV of 10 GeV: 0.1 %
        "core_raw": np.full(n, 8.0),
        "halo_raw": np.full(n, 1.0),
        "radial_raw": np.tile(np.eye(pt.N_R_BINS)[1] * 10.0, (n, 1)),
        "cog_raw": np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 2.0], [-1.0, -2.0]]),
        "layers": layers,
        "decades": np.tile([0, 1, 2, 3, 4, 0], (n, 1)),
    }
    for key in ("vis", "core", "halo", "radial", "cog"):
        f[f"{key}_pts"] = f[f"{key}_raw"]
    q = pt.quantities(f)
    assert q["visible_pct"] == pytest.approx(0.1)
    assert q["core_raw_pct"] == pytest.approx(80.0) and q["halo_pts_pct"] == pytest.approx(10.0)
    assert q["radial_raw_01_pct"] == pytest.approx(100.0) and q["radial_raw_00_pct"] == 0.0
    assert q["layer_00_pct"] == pytest.approx(50.0) and q["ratio_13_14"] == pytest.approx(1.5)
    assert q["cog_x_std_raw_mm"] == pytest.approx(np.std([1, -1, 1, -1], ddof=1))
    assert q["points_4_per_shower"] == 4.0 and q["points_2_frac_pct"] == pytest.approx(20.0)
    central, reps = pt.summarise(f, pt.bootstrap_indices(n, 20))
    assert central == q and np.all(reps["visible_pct"] == pytest.approx(0.1))  # no spread: no error


def test_end_to_end_small_run(pt, tmp_path, capsys):
    out = tmp_path / "table_v{version}.json"
    pt.main(["--showers", "20", "--seed", "3", "--versions", "2", "--workers", "1", "--bootstrap", "20",
             "--chunk", "10", "--energy", "10", "--json", str(out)])  # fmt: skip
    table = capsys.readouterr().out
    assert "| visible / incident energy [%] |" in table and "≈ 84.0" in table
    results = json.loads((tmp_path / "table_v2.json").read_text())
    assert results["version"] == 2 and results["2"]["git_commit"] is not None
    q = results["2"]["quantities"]
    assert 1.5 < q["visible_pct"]["value"] < 3.0 and 0 < q["visible_pct"]["error"] < 0.5
    assert 60 < q["core_raw_pct"]["value"] < 98 and q["halo_raw_pct"]["value"] < 10
    # the training points keep the raw hits' energy: core fractions agree to the sub-cell size
    assert abs(q["core_pts_pct"]["value"] - q["core_raw_pct"]["value"]) < 2
    radial = sum(q[f"radial_raw_{b:02d}_pct"]["value"] for b in range(pt.N_R_BINS))
    assert 99 < radial <= 100 + 1e-9
    assert q["ratio_13_14"]["value"] > 1  # the second layer of slab 6 sits right behind its W plate
    assert q["points_per_shower"]["value"] > 100


def test_same_seed_same_showers_as_the_model(pt):
    # the conditions are those of `calozoo simulate --preset none --energy 10:100 --theta 90 --phi 90`
    assert pt.parse_energy("10").kind == "fixed"
    energy, unit = pt.conditions(5, seed=1)
    assert np.all((energy >= 10) & (energy <= 100)) and np.allclose(unit, [0, 0, 1])
    pt._worker_init(2)
    _, feats = pt._simulate_chunk((2, energy[2:4], unit[2:4], 1, 1))
    import calozoo

    raw = calozoo.load("reference-mc", physics_version=2, output="raw").sample(energy[:4], unit[:4], seed=1)
    np.testing.assert_allclose(feats["vis_raw"], raw.visible_energy_mev[2:4], rtol=1e-6)


def test_a_failing_version_keeps_the_others(pt, monkeypatch, tmp_path):
    def fake(version, n, seed, workers, chunk, energy):
        if version == 3:
            raise TypeError("simulate_shower() takes 14 positional arguments")
        rng = np.random.default_rng(version)
        return {
            "energy_gev": np.full(n, 10.0),
            "vis_raw": rng.uniform(200, 220, n),
            "core_raw": np.full(n, 170.0),
            "halo_raw": np.full(n, 3.0),
            "radial_raw": np.tile(np.eye(pt.N_R_BINS)[0] * 200.0, (n, 1)),
            "cog_raw": rng.normal(size=(n, 2)),
            "layers": rng.uniform(1, 2, (n, 30)),
            "decades": np.tile([0, 1, 2, 3, 4, 0], (n, 1)),
        }

    monkeypatch.setattr(pt, "simulate_features", lambda *a: _with_points(fake(*a)))
    saved = []
    results = pt.run([2, 3], 8, 1, 1, 10, save=lambda r: saved.append(json.dumps(r)))
    assert "quantities" in results["2"] and "TypeError" in results["3"]["error"]
    assert results["ratios"] == {} and len(saved) == 2
    pt.write_json(results, tmp_path / "t_v{version}.json")
    assert json.loads((tmp_path / "t_v3.json").read_text())["3"]["error"].startswith("TypeError")


def _with_points(f):
    for key in ("vis", "core", "halo", "radial", "cog"):
        f[f"{key}_pts"] = f[f"{key}_raw"]
    return f
