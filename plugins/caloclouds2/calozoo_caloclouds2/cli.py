"""``calozoo train caloclouds2`` (registered through the commands hook): the engine's training
command (:func:`calozoo_engine.cli.make_train_command`) with CaloClouds2's recipe."""

from __future__ import annotations

from calozoo_engine.cli import make_train_command

from .model import CaloClouds2Recipe

__all__ = ["train_command"]

train_command = make_train_command(
    CaloClouds2Recipe, default_steps={"flow": 4000, "teacher": 8000, "distill": 4000}
)
