"""A small real model bundle for prediction tests: trained on a synthetic table of real feature names.

The table is drawn around one case's real feature values, so that the case falls inside the
training distribution; the extractor identity is the real one of that case's extraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from HematomaExpansionLib.features.featureset import FeatureSet
from HematomaExpansionLib.model.bundle import ModelBundle, load_bundle
from HematomaExpansionLib.model.bundle_writer import save_bundle
from HematomaExpansionLib.model.lasso_svm import LassoSVM, fit_model
from training_fixtures import FAST_CONFIG


def train_test_bundle(
    folder: Path, case_features: FeatureSet, names: list[str]
) -> tuple[ModelBundle, LassoSVM]:
    """Fit a fused model on 120 synthetic rows of ``names`` and save it as bundle ``test-fused``."""
    rng = np.random.default_rng(1)
    centre = np.array([case_features.features[n] for n in names])
    scale = np.abs(centre) * 0.2 + 1e-3
    x = centre + rng.standard_normal((120, len(names))) * scale
    last = len(names) - 1
    y = (x[:, 0] - centre[0]) / scale[0] + (x[:, last] - centre[last]) / scale[last] + rng.normal(
        0, 1, 120
    ) > 0
    fitted = fit_model(x, y.astype(int), names, "fused", FAST_CONFIG)
    save_bundle(
        fitted,
        folder,
        "test-fused",
        {"extractor": case_features.provenance["extractor_identity"], "intended_use": "test model"},
    )
    return load_bundle(folder), fitted
