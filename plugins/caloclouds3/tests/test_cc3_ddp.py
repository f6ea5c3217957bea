"""Data-parallel training (as under ``torchrun``): two processes make the single-process update."""

import os
import shutil
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from calozoo_caloclouds3.model import CaloClouds3Recipe
from calozoo_engine import training
from calozoo_engine.data import TrainingSet
from calozoo_toyflow.gamma import ToyGammaShowers
from safetensors.torch import load_file

from calozoo.io import write_showers

#: 15 showers per step: the two ranks take 7 and 8 (unequal shares are weighted right). A small
#: learning rate: Adam divides by the gradient's size, so where a gradient is nearly zero the
#: reduction order can flip its sign and move that weight by up to 2 lr a step.
FLOW = {"steps": 3, "batch_size": 15, "checkpoint_every": 2, "log_every": 1, "lr": 1e-5, "lr_final": 1e-6}
TEACHER = {"steps": 3, "points_per_batch": 2000, "max_points": 200, "checkpoint_every": 2, "log_every": 1}
TEACHER.update(lr=1e-5, lr_final=1e-6)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    energy = np.random.default_rng(0).uniform(5, 40, 40)
    folder = tmp_path_factory.mktemp("data")
    write_showers(folder / "shard-00000.h5", ToyGammaShowers().sample(energy=energy, seed=3))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data_path, root, runs=None) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    real_save = training.save_checkpoint

    def recording_save(folder, *args):
        (root / f"saved-by-{rank}").touch()
        real_save(folder, *args)

    training.save_checkpoint = recording_save
    try:
        (runs or _runs)(root, "two", data_path)
    finally:
        torch.distributed.destroy_process_group()


def _runs(root, name: str, data_path) -> None:
    """3 flow steps straight, and 2 steps continued to 3 (a warm restart: another schedule)."""
    data = TrainingSet.read(data_path, progress=False)
    training.train_flow(
        data,
        root / name / "straight",
        training.FlowSettings(**FLOW),
        recipe=CaloClouds3Recipe(),
        progress=False,
    )
    resumed = root / name / "resumed"
    training.train_flow(
        data,
        resumed,
        training.FlowSettings(**{**FLOW, "steps": 2}),
        recipe=CaloClouds3Recipe(),
        progress=False,
    )
    training.train_flow(
        data, resumed, training.FlowSettings(**FLOW), recipe=CaloClouds3Recipe(), progress=False
    )


def _same_checkpoints(root, stage: str, runs: tuple[str, ...]) -> None:
    for run in runs:
        _, state_one = training.load_checkpoint(root / "one" / run / stage / "checkpoint")
        one = load_file(str(root / "one" / run / stage / "checkpoint" / "tensors.safetensors"))
        folder = root / "two" / run / stage / "checkpoint"
        _, state_two = training.load_checkpoint(folder)
        two = load_file(str(folder / "tensors.safetensors"))
        assert state_two["step"] == state_one["step"] == 3
        assert state_two["recipe"] == state_one["recipe"]
        assert two.keys() == one.keys()
        for key in one:
            # weights to 1e-5; Adam's moments (which see the gradients' scale: a wrong weighting of
            # the shares or a wrong slice shows there) relative to their largest entry
            atol = 1e-5 if key.startswith("model.") else 1e-4 * float(one[key].abs().max())
            torch.testing.assert_close(two[key], one[key], rtol=0, atol=atol, msg=f"{run}: {key}")


def test_two_processes_train_the_flow_like_one(data_path, tmp_path):
    _runs(tmp_path, "one", data_path)
    ctx = mp.spawn(_worker, args=(2, _free_port(), data_path, tmp_path), nprocs=2, join=True)
    assert ctx is None
    assert (tmp_path / "saved-by-0").exists()
    assert not (tmp_path / "saved-by-1").exists()  # only rank 0 writes
    _same_checkpoints(tmp_path, "flow", ("straight", "resumed"))
    # one log line per step (and per checkpoint's validation), not one per rank
    lines = (tmp_path / "two" / "straight" / "flow" / "log.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "one" / "straight" / "flow" / "log.jsonl").read_text().splitlines())
    assert len(lines) == 3 + 2


def _teacher_runs(root, name: str, data_path) -> None:
    data = TrainingSet.read(data_path, progress=False)
    training.train_teacher(
        data,
        root / name / "straight",
        training.TeacherSettings(**TEACHER),
        recipe=CaloClouds3Recipe(),
        progress=False,
    )


def test_two_processes_train_the_teacher_like_one(data_path, tmp_path):
    _teacher_runs(tmp_path, "one", data_path)
    mp.spawn(_worker, args=(2, _free_port(), data_path, tmp_path, _teacher_runs), nprocs=2, join=True)
    assert (tmp_path / "saved-by-0").exists()
    assert not (tmp_path / "saved-by-1").exists()
    _same_checkpoints(tmp_path, "teacher", ("straight",))


DISTILL = {"steps": 3, "points_per_batch": 2000, "max_points": 200, "checkpoint_every": 2, "log_every": 1}
DISTILL.update(lr=1e-5, lr_final=1e-6)


def _distill_runs(root, name: str, data_path) -> None:
    """3 distill steps straight, and 2 steps continued to 3, from the teacher copied in."""
    data = TrainingSet.read(data_path, progress=False)
    training.train_distill(
        data,
        root / name / "straight",
        training.DistillSettings(**DISTILL),
        recipe=CaloClouds3Recipe(),
        progress=False,
    )
    resumed = root / name / "resumed"
    training.train_distill(
        data,
        resumed,
        training.DistillSettings(**{**DISTILL, "steps": 2}),
        recipe=CaloClouds3Recipe(),
        progress=False,
    )
    training.train_distill(
        data, resumed, training.DistillSettings(**DISTILL), recipe=CaloClouds3Recipe(), progress=False
    )


def test_two_processes_distill_like_one(data_path, tmp_path):
    # a tiny teacher, trained once in one process and copied into every work folder
    data = TrainingSet.read(data_path, progress=False)
    teacher = training.TeacherSettings(**{**TEACHER, "steps": 2, "widths": (4, 16, 16, 4)})
    training.train_teacher(data, tmp_path / "teacher", teacher, recipe=CaloClouds3Recipe(), progress=False)
    for name in ("one", "two"):
        for run in ("straight", "resumed"):
            shutil.copytree(tmp_path / "teacher" / "teacher", tmp_path / name / run / "teacher")
    _distill_runs(tmp_path, "one", data_path)
    mp.spawn(_worker, args=(2, _free_port(), data_path, tmp_path, _distill_runs), nprocs=2, join=True)
    assert (tmp_path / "saved-by-0").exists()
    assert not (tmp_path / "saved-by-1").exists()
    # student and target weights (both "model.") to 1e-5, Adam's moments relative
    _same_checkpoints(tmp_path, "distill", ("straight", "resumed"))
    lines = (tmp_path / "two" / "straight" / "distill" / "log.jsonl").read_text().splitlines()
    assert len(lines) == 3
