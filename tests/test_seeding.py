"""One seeding convention (calozoo.seeding): shower i of a job seeded s draws from child i of
SeedSequence(s), so no output depends on the batch size, the shard size or the workers."""

import numpy as np
import pytest
from blob_models import BlobModel
from click.testing import CliRunner

from calozoo.cli import main
from calozoo.io import _shard_files, read_showers
from calozoo.seeding import (
    condition_rngs,
    root_sequence,
    sequence_rngs,
    shower_rngs,
    shower_seeds,
    shower_sequence,
    sub_seeds,
)
from calozoo.showers import Showers, concatenate


def test_a_showers_seed_is_child_i_of_the_root_wherever_it_starts():
    seeds = shower_seeds(7, 6)
    assert seeds.dtype == np.uint64 and len(set(seeds.tolist())) == 6
    children = np.random.SeedSequence(7).spawn(6)
    assert seeds.tolist() == [int(c.generate_state(1, np.uint64)[0]) for c in children]
    np.testing.assert_array_equal(shower_seeds(7, 2, start=4), seeds[4:])
    assert not np.array_equal(shower_seeds(8, 6), seeds)
    # one root for a call without a seed: its showers still differ from each other
    root = root_sequence(None)
    assert len(set(shower_seeds(root, 4).tolist())) == 4
    with pytest.raises(ValueError, match="non-negative integer"):
        root_sequence(-1)


def test_the_streams_of_a_shower_are_distinct():
    seeds = shower_seeds(3, 4)
    first = [rng.random() for rng in shower_rngs(seeds)]
    conditions = [rng.random() for rng in condition_rngs(3, 4)]
    sequences = [rng.random() for rng in sequence_rngs(3, 4)]
    assert len(set(first) | set(conditions) | set(sequences)) == 12
    assert [rng.random() for rng in condition_rngs(3, 2, start=2)] == conditions[2:]
    assert [rng.random() for rng in sequence_rngs(3, 2, start=2)] == sequences[2:]
    # preprocessing's generators: child i itself, as preprocess always derived them
    root = np.random.SeedSequence(3)
    legacy = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 2))
    assert np.random.default_rng(legacy).random() == sequences[2]
    assert shower_sequence(root, 2).spawn_key == legacy.spawn_key
    assert len(set(sub_seeds(seeds, 0).tolist()) | set(sub_seeds(seeds, 1).tolist())) == 8
    assert sub_seeds(seeds, 0, np.uint32).dtype == np.uint32


def _models():
    from calozoo_refmc.model import ReferenceMC
    from calozoo_toyflow.gamma import ToyGammaShowers
    from calozoo_toyflow.model import load_pretrained

    return {
        "blob": (BlobModel(), 1.0),
        "toy-gamma": (ToyGammaShowers(), 1.0),
        "toyflow": (load_pretrained(batch_invariant=True), 1.0),
        "reference-mc": (ReferenceMC(), 0.1),  # training points (preprocessed), low energies: fast
        "reference-mc-raw": (ReferenceMC(output="raw"), 0.1),
    }


@pytest.fixture(scope="module")
def models():
    return _models()


@pytest.mark.parametrize("name", ["blob", "toy-gamma", "toyflow", "reference-mc", "reference-mc-raw"])
def test_sample_does_not_depend_on_the_batch_size(models, name):
    model, scale = models[name]
    rng = np.random.default_rng(0)
    n = 7
    energy = rng.uniform(2.0, 40.0, n) * scale
    direction = np.column_stack([rng.uniform(-0.3, 0.3, (n, 2)), np.ones(n)])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    reference = model.sample(energy, direction, seed=5, batch_size=1000)
    for batch_size in (1, 3):
        assert model.sample(energy, direction, seed=5, batch_size=batch_size) == reference, batch_size
    # the first n showers of a longer job are the job of n; a part of a job starts where it is
    assert model.sample(energy[:4], direction[:4], seed=5) == reference[:4]
    assert model.sample(energy[4:], direction[4:], seed=5, start=4, batch_size=2) == reference[4:]
    assert not (model.sample(energy, direction, seed=6) == reference)


def test_toyflow_is_batch_independent_for_many_batch_sizes(models):
    """Loaded batch invariant, the flow runs one row per call: a row rounds the same in any batch."""
    model, _ = models["toyflow"]
    energy = np.random.default_rng(1).uniform(1.0, 30.0, 70)
    reference = model.sample(energy, seed=2, batch_size=70)
    for batch_size in (64, 65, 69):
        assert model.sample(energy, seed=2, batch_size=batch_size) == reference, batch_size


def test_a_model_sees_its_batchs_per_shower_seeds():
    seen = []

    class Recording(BlobModel):
        def generate(self, energy_gev, direction, pdg, seeds):
            seen.append(np.array(seeds))
            return super().generate(energy_gev, direction, pdg, seeds)

    Recording().sample([5.0] * 5, seed=9, batch_size=2)
    assert [len(s) for s in seen] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(seen), shower_seeds(9, 5))
    with pytest.raises(ValueError, match="start must be a non-negative integer"):
        Recording().sample([5.0], seed=9, start=-1)


def test_preprocess_does_not_depend_on_the_batch_size_with_per_shower_seeds():
    from blob_models import flat_geometry

    from calozoo.preprocessing import preprocess

    rng = np.random.default_rng(4)
    hits = [np.column_stack([rng.normal(0, 8, (30, 2)), rng.uniform(0, 190, 30), rng.exponential(1, 30)])]
    raw = Showers.from_point_lists(hits * 5, [10.0] * 5, z_units="mm")
    geometry = flat_geometry()
    reference = preprocess(raw, geometry, seed=3)
    for batch_size in (1, 2):
        assert preprocess(raw, geometry, seed=3, batch_size=batch_size) == reference
    seeds = shower_seeds(3, 5)
    by_seed = preprocess(raw, geometry, seeds=seeds)
    assert preprocess(raw, geometry, seeds=seeds, batch_size=2) == by_seed
    assert preprocess(raw[3:], geometry, seeds=seeds[3:]) == by_seed[3:]
    with pytest.raises(TypeError, match="exactly one of seed"):
        preprocess(raw, geometry)
    with pytest.raises(TypeError, match="exactly one of seed"):
        preprocess(raw, geometry, seed=1, seeds=seeds)
    with pytest.raises(ValueError, match="one seed per shower"):
        preprocess(raw, geometry, seeds=seeds[:2])


def _generate(tmp_path, name, *options):
    common = ["generate", "toy-gamma", "-n", "9", "--energy", "log:5:100", "--directions", "barrel-ip"]
    out = tmp_path / name
    result = CliRunner().invoke(main, [*common, "--seed", "4", *map(str, options), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return concatenate([read_showers(f) for f in _shard_files(out)]) if out.is_dir() else read_showers(out)


def test_generate_gives_the_same_showers_for_any_shard_size_and_batch_size(tmp_path):
    one = _generate(tmp_path, "one.h5")
    assert one == _generate(tmp_path, "batches.h5", "--batch-size", 2)
    for shard_size, batch_size in ((1, 1000), (4, 3), (9, 2), (20, 1000)):
        shards = _generate(tmp_path, f"s{shard_size}", "--shard-size", shard_size, "--batch-size", batch_size)
        assert shards == one, (shard_size, batch_size)
    # the first showers of a longer job are the job of fewer
    common = ["generate", "toy-gamma", "-n", "4", "--energy", "log:5:100", "--directions", "barrel-ip"]
    result = CliRunner().invoke(main, [*common, "--seed", "4", "-o", str(tmp_path / "four.h5")])
    assert result.exit_code == 0, result.output
    assert read_showers(tmp_path / "four.h5") == one[:4]


def test_generate_gives_the_same_showers_with_several_workers(tmp_path):
    pytest.importorskip("distributed")
    one = _generate(tmp_path, "one.h5")
    assert _generate(tmp_path, "dask", "--shard-size", 4, "--workers", 2, "--batch-size", 3) == one


def test_generate_and_simulate_draw_the_same_conditions(tmp_path):
    """A preset's conditions are those `generate` draws with the same words and seed."""
    pytest.importorskip("calozoo_refmc")
    from calozoo_refmc.dataset import _shard_conditions

    settings = {"preset": "cc3-training", "energy_gev": None, "seed": 4}
    energy, direction, _ = _shard_conditions(settings, 9, 0)
    generated = _generate(tmp_path, "cc3.h5")  # log:5:100 --directions barrel-ip
    np.testing.assert_allclose(generated.direction, direction, atol=1e-6)  # float32 on disk
    assert 1.0 <= energy.min() and energy.max() <= 127.0
    later_energy, later_direction, _ = _shard_conditions(settings, 4, 5)
    np.testing.assert_array_equal(later_energy, energy[5:])
    np.testing.assert_array_equal(later_direction, direction[5:])


def test_simulate_gives_the_same_showers_for_any_shard_size(tmp_path):
    pytest.importorskip("calozoo_refmc")
    from calozoo_refmc.dataset import simulate_dataset

    options = dict(preset=None, energy_range=("uniform", 0.2, 0.6), directions="barrel-ip", seed=3)
    options.update(progress=False, workers=1)
    made = {}
    for size in (1, 2, 5):
        shards = simulate_dataset(tmp_path / f"s{size}", 5, shard_size=size, **options)
        made[size] = concatenate([read_showers(f) for f in shards])
    assert made[1] == made[2] == made[5]
    assert len(made[5]) == 5 and made[5].z_units == "layer"
    fewer = simulate_dataset(tmp_path / "fewer", 3, shard_size=2, **options)
    assert concatenate([read_showers(f) for f in fewer]) == made[5][:3]


def test_simulate_does_not_continue_a_data_set_seeded_shard_by_shard(tmp_path):
    pytest.importorskip("calozoo_refmc")
    import json

    from calozoo_refmc.dataset import simulate_dataset

    options = dict(preset=None, energy_gev=0.2, seed=1, shard_size=1, progress=False, workers=1)
    simulate_dataset(tmp_path, 1, **options)
    manifest = tmp_path / "reference-mc.json"
    state = json.loads(manifest.read_text())
    assert state["seeding"] == "per-shower"
    del state["seeding"]  # as an earlier version wrote it
    manifest.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="seeded shard by shard"):
        simulate_dataset(tmp_path, 2, **options)
