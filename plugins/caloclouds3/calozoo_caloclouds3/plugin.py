"""Registers ``caloclouds3``, its calibrator and its commands with calozoo (light: no torch here)."""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_models", "calozoo_register_calibrators", "calozoo_register_commands"]


@calozoo.hookimpl
def calozoo_register_models(register):
    register(
        "caloclouds3",
        "calozoo_caloclouds3.model:load_pretrained",
        summary="CaloClouds3 (arXiv:2511.01460): ShowerFlow + one-step consistency-distilled point model",
        # barrel: the shipped weights for ild-ecal-barrel; endcap: a flow and calibration trained
        # for ild-ecal-endcap (the field along the shower axis) with the barrel's point network
        variants=("barrel", "endcap"),
        trainable=True,
        weights="shipped (trained on the reference MC's CaloClouds3 set made with its physics version 2, "
        "calibrated for ild-ecal-barrel; reproduce the data with calozoo simulate --physics-version 2)",
        energy_gev=(1, 127),
        pdg=(22,),
        max_angle_deg=62.0,
        # the model card `calozoo info caloclouds3` shows
        paper="Buss et al., CaloClouds3: Ultra-Fast Geometry-Independent Highly-Granular Calorimeter "
        "Simulation, arXiv:2511.01460",
        bibtex="@article{caloclouds3, title = {CaloClouds3: Ultra-Fast Geometry-Independent "
        "Highly-Granular Calorimeter Simulation}, author = {Buss, Thorsten and Day-Hall, Henry and "
        'Gaede, Frank and Kasieczka, Gregor and Kr{\\"u}ger, Katja and Korol, Anatolii and Madlener, '
        "Thomas and McKeown, Peter and Mozzanica, Martina and Valente, Lorenzo}, year = {2025}, "
        "eprint = {2511.01460}, archivePrefix = {arXiv}, primaryClass = {physics.ins-det}}",
        licence="Apache-2.0 (code and shipped weights)",
        validity="photons of 1-127 GeV up to 62 deg from the layer normal (the training set's window); "
        "projected into ild-ecal-barrel, the geometry it is calibrated for",
        fidelity="normal incidence, ild-ecal-barrel, 50 GeV: visible energy 1.003, occupancy 0.975 of the "
        "reference MC, classifier AUC 0.932 (docs/caloclouds3-fidelity.md); random angles at 10/50/100 "
        "GeV: classifier AUC 0.813, cell energy 109x its twin floor (docs/caloclouds3.md); visible energy "
        "at 1 GeV 1.02x the reference's (docs/caloclouds3.md, 'Low energies')",
        shipped_config="weights/caloclouds3/config.json",
    )


@calozoo.hookimpl
def calozoo_register_calibrators(register):
    register(
        "caloclouds3",
        "calozoo_caloclouds3.calibration:CaloClouds3Calibrator",
        summary="fits CaloClouds3's occupancy factor (optionally per layer), transverse widening, energy "
        "factor and (optionally) the spread of point energies for a geometry",
    )


@calozoo.hookimpl
def calozoo_register_commands(register):
    register(
        "train caloclouds3",
        "calozoo_caloclouds3.cli:train_command",
        summary="Train caloclouds3 stage by stage (flow, teacher, distill, assemble, calibrate).",
    )
    register(
        "import caloclouds3",
        "calozoo_caloclouds3.cli:import_command",
        summary="Import the authors' caloclouds3 point network without running pickled code.",
    )
