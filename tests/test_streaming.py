"""Streaming generation: iter_sample batch by batch, ShowerWriter appending to one atomic file."""

import numpy as np
import pytest
from blob_models import BlobModel

from calozoo.errors import InvalidConditionError
from calozoo.io import ShowerWriter, read_showers, write_showers
from calozoo.showers import concatenate

ENERGIES = np.linspace(5, 90, 11)


def test_iter_sample_batches_add_up_to_sample():
    model = BlobModel()
    batches = list(model.iter_sample(ENERGIES, seed=3, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 3]
    assert concatenate(batches) == model.sample(ENERGIES, seed=3, batch_size=4)


def test_iter_sample_checks_conditions_before_generating_anything():
    with pytest.raises(InvalidConditionError, match="energy out of range"):
        BlobModel().iter_sample([10, 500])  # raised at the call, not at the first next()


@pytest.mark.parametrize("fmt", ["caloclouds", "showerdata"])
def test_batches_written_one_by_one_equal_one_write(tmp_path, fmt):
    model = BlobModel()
    showers = model.sample(ENERGIES, seed=5, batch_size=4)
    with ShowerWriter(tmp_path / "streamed.h5", len(ENERGIES), format=fmt) as writer:
        for batch in model.iter_sample(ENERGIES, seed=5, batch_size=4):
            writer.write(batch)  # batches have different padded widths
    write_showers(tmp_path / "whole.h5", showers, format=fmt)
    streamed, whole = read_showers(tmp_path / "streamed.h5"), read_showers(tmp_path / "whole.h5")
    assert streamed == whole
    assert streamed.allclose(showers, rtol=1e-6, atol=1e-5)  # showerdata: z mapped to its layer convention


@pytest.mark.parametrize("fmt", ["caloclouds", "showerdata"])
def test_an_interrupted_stream_leaves_no_file(tmp_path, fmt):
    model = BlobModel()
    target = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        with ShowerWriter(target, len(ENERGIES), format=fmt) as writer:
            for i, batch in enumerate(model.iter_sample(ENERGIES, seed=5, batch_size=4)):
                if i == 1:
                    raise KeyboardInterrupt  # the user pressed Ctrl-C mid-run
                writer.write(batch)
    assert list(tmp_path.iterdir()) == []


def test_too_few_or_too_many_showers_are_refused(tmp_path):
    batch = BlobModel().sample([10, 20], seed=1)
    with pytest.raises(ValueError, match="only 2 of the 3 declared showers"):
        with ShowerWriter(tmp_path / "short.h5", 3) as writer:
            writer.write(batch)
    with pytest.raises(ValueError, match="declared for 1"):
        with ShowerWriter(tmp_path / "long.h5", 1) as writer:
            writer.write(batch)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["caloclouds", "showerdata"])
def test_reading_in_batches_gives_the_whole_file(tmp_path, fmt):
    from calozoo.io import count_showers, iter_showers

    showers = BlobModel().sample(ENERGIES, [0.0, 0.6, 0.8], seed=2)
    path = write_showers(tmp_path / "s.h5", showers, format=fmt)
    assert count_showers(path) == len(ENERGIES)
    batches = list(iter_showers(path, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 3]
    assert concatenate(batches) == read_showers(path)
    assert read_showers(path, start=3, stop=5) == read_showers(path)[3:5]
    with pytest.raises(ValueError, match="start <= stop"):
        read_showers(path, start=5, stop=3)


def test_a_second_writer_of_the_same_file_is_refused_at_once(tmp_path):
    import os

    from calozoo.errors import OutputBusyError

    batch = BlobModel().sample([10, 20], seed=1)
    out = tmp_path / "out.h5"
    with ShowerWriter(out, 2) as first:
        with pytest.raises(OutputBusyError) as busy:
            with ShowerWriter(out, 2, format="showerdata"):
                pytest.fail("a second writer got in")
        first.write(batch)
    assert str(busy.value) == (
        f"{out} is being written by another calozoo process (pid {os.getpid()}); "
        "wait for it or choose another output"
    )
    assert read_showers(out) == read_showers(write_showers(tmp_path / "alone.h5", batch))  # the first's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.h5", "out.h5"]  # the lock is gone
    write_showers(out, batch[:1])  # and the next writer gets in
    assert len(read_showers(out)) == 1
