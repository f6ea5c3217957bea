"""Registers ``caloclouds2``, its calibrator and its commands with calozoo (light: no torch here)."""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_models", "calozoo_register_calibrators", "calozoo_register_commands"]


@calozoo.hookimpl
def calozoo_register_models(register):
    register(
        "caloclouds2",
        "calozoo_caloclouds2.model:load_pretrained",
        summary="CaloClouds2 (arXiv:2309.05704): ShowerFlow + one-step point model, normal incidence",
        trainable=True,
        weights="shipped (trained on the reference MC's 10-90 GeV normal-incidence set made with its "
        "physics version 2, calibrated for ild-ecal-barrel; reproduce the data with calozoo simulate "
        "--physics-version 2)",
        energy_gev=(10, 90),
        pdg=(22,),
        max_angle_deg=0,
        # the model card `calozoo info caloclouds2` shows
        paper="Buhmann et al., CaloClouds II: Ultra-Fast Geometry-Independent Highly-Granular "
        "Calorimeter Simulation, arXiv:2309.05704",
        bibtex="@article{caloclouds2, title = {CaloClouds II: Ultra-Fast Geometry-Independent "
        "Highly-Granular Calorimeter Simulation}, author = {Buhmann, Erik and Gaede, Frank and "
        'Kasieczka, Gregor and Korol, Anatolii and Korcari, William and Kr{\\"u}ger, Katja and '
        "McKeown, Peter}, year = {2023}, eprint = {2309.05704}, archivePrefix = {arXiv}}",
        licence="Apache-2.0 (code and shipped weights)",
        validity="photons of 10-90 GeV at normal incidence (1-127 GeV with extrapolate=true, at your own "
        "risk); projected into ild-ecal-barrel, the geometry it is calibrated for",
        fidelity="10-90 GeV, normal incidence, ild-ecal-barrel: visible energy 1.010, occupancy 1.005 of the "
        "reference MC, classifier AUC 0.919 (docs/caloclouds2-vs-caloclouds3.md)",
        shipped_config="weights/caloclouds2/config.json",
    )


@calozoo.hookimpl
def calozoo_register_calibrators(register):
    register(
        "caloclouds2",
        "calozoo_caloclouds2.calibration:CaloClouds2Calibrator",
        summary="fits CaloClouds2's occupancy polynomials g(N) = poly_fake(poly_real(N)) for a geometry",
    )


@calozoo.hookimpl
def calozoo_register_commands(register):
    register(
        "train caloclouds2",
        "calozoo_caloclouds2.cli:train_command",
        summary="Train caloclouds2 stage by stage (flow, teacher, distill, assemble, calibrate).",
    )
