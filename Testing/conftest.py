"""Shared pytest fixtures: the headless Slicer scene and the costly fitted models and training runs.

Cheap builders of test data (phantoms, images, feature tables) are plain functions in the
``*_fixtures.py`` helper modules; what costs seconds to minutes is made here, once per session.
Heavy libraries are imported inside the fixtures so that collecting a light test module stays cheap.
"""

from __future__ import annotations

import pytest

from browser_fixtures import browser, chromium_executable, page, serve, web_folders  # noqa: F401


@pytest.fixture
def runtime():
    """The headless Slicer runtime on slicer-core, its scene cleared before each test."""
    from HematomaExpansionLib.mrml.runtime import SlicerRuntime

    rt = SlicerRuntime.current()
    rt.clear()
    return rt


@pytest.fixture(scope="session")
def fitted_synthetic():
    """(cohort, model): the default sparse synthetic cohort and a radiomics model fitted on its training split."""
    from HematomaExpansionLib.model.lasso_svm import fit_on_split
    from training_fixtures import FAST_CONFIG, synthetic_cohort

    cohort = synthetic_cohort()
    return cohort, fit_on_split(cohort.table, cohort.feature_names, "radiomics", FAST_CONFIG)


@pytest.fixture(scope="session")
def training_run(tmp_path_factory):
    """(table path, RunResult): one training run of the three model kinds on the default feature table."""
    from model_training_fixtures import synthetic_rows, train_table, write_table

    folder = tmp_path_factory.mktemp("shared_training")
    table_path = write_table(folder / "table", *synthetic_rows())
    return table_path, train_table(table_path, folder / "models")
