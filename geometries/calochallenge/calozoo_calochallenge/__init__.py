"""The CaloChallenge 2022 detector (datasets 2 and 3) as calozoo geometries.

Importing the package is cheap; the geometries live in :mod:`calozoo_calochallenge.geometry`.
"""
