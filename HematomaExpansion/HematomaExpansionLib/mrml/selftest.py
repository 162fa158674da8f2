"""Self-test scenarios of the module, on a small phantom and fully offline.

Each scenario takes the module's Logic and a ``unittest.TestCase`` for its assertions, so the same
scenarios run one by one as the ``test_*`` methods of ``HematomaExpansionTest`` inside Slicer (CTest)
and as one pytest test each on the headless runtime.
"""

from __future__ import annotations

import json
import tempfile
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError, SegmentExistsError
from ..model.applicability import ApplicabilityChecklist
from ..model.registry import load_model
from ..reports.case_outputs import write_prediction
from ..synthetic import HematomaSpec, generate_phantom, write_case
from .loading import load_case
from .segments import segment_to_mask
from .tables import table_node_rows
from .volumes import volume_to_sitk

SAMPLE_SPEC = HematomaSpec(volume_ml=20.0, lobulation=0.1, heterogeneity_hu=3.0)
PHANTOM_CASE_ID = "selftest"


def _load_phantom_case(logic: Any, folder: Path, seed: int = 5) -> tuple[Any, Any, Any]:
    phantom = generate_phantom(SAMPLE_SPEC, preset="clinical", seed=seed)
    paths = write_case(phantom, folder, PHANTOM_CASE_ID)
    volume, segmentation = load_case(logic.runtime, paths["ct"], paths["hematoma"])
    return phantom, volume, segmentation


def _seed_ras(phantom: Any) -> tuple[float, float, float]:
    """The phantom's hematoma centre (LPS truth) as a point clicked in Slicer (RAS)."""
    x, y, z = phantom.truth["centre_mm"]
    return (-x, -y, z)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean arrays."""
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def scenario_measure_loaded_phantom(logic: Any, test: unittest.TestCase) -> None:
    """Load a phantom CT and hematoma segmentation, measure it, compare with the phantom's truth."""
    with tempfile.TemporaryDirectory() as folder:
        phantom, volume, segmentation = _load_phantom_case(logic, Path(folder))
    result = logic.measure(volume, segmentation)
    test.assertAlmostEqual(
        result["volume_ml"], phantom.truth["volume_ml"], delta=1e-6 * phantom.truth["volume_ml"]
    )
    test.assertEqual(result["n_components"], 1)
    table = logic.measurements_table(result)
    rows = {row["measurement"]: row["value"] for row in table_node_rows(table)}
    test.assertAlmostEqual(rows["volume_ml"], result["volume_ml"], places=9)


def scenario_bad_input_is_refused_and_nothing_changes(logic: Any, test: unittest.TestCase) -> None:
    """An unknown segment and an empty segmentation give clear errors; the inputs stay as they were."""
    with tempfile.TemporaryDirectory() as folder:
        _, volume, segmentation = _load_phantom_case(logic, Path(folder))
    before = volume_to_sitk(volume)
    segment_ids = list(segmentation.GetSegmentation().GetSegmentIDs())
    with test.assertRaises(InputError) as raised:
        logic.measure(volume, segmentation, "Oedema")
    test.assertIn("Hematoma", str(raised.exception))
    empty = logic.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
    with test.assertRaises(InputError):
        logic.measure(volume, empty)
    after = volume_to_sitk(volume)
    test.assertEqual(list(segmentation.GetSegmentation().GetSegmentIDs()), segment_ids)
    test.assertTrue(
        np.array_equal(sitk.GetArrayViewFromImage(before), sitk.GetArrayViewFromImage(after)),
        "the CT volume was modified",
    )


def scenario_draft_hematoma_matches_truth(logic: Any, test: unittest.TestCase) -> None:
    """Draft the hematoma from a click inside it: Dice >= 0.9 with the truth; an existing draft is kept."""
    with tempfile.TemporaryDirectory() as folder:
        phantom, volume, segmentation = _load_phantom_case(logic, Path(folder))
    seed = _seed_ras(phantom)
    _, segment_id, draft = logic.draft_hematoma_segment(volume, segmentation, seed_point_ras=seed)
    test.assertEqual(draft.chosen_component_reason, "seed point")
    drafted, _ = segment_to_mask(logic.runtime, segmentation, segment_id, volume)
    truth = sitk.GetArrayViewFromImage(phantom.mask) > 0
    test.assertGreaterEqual(dice(sitk.GetArrayViewFromImage(drafted) > 0, truth), 0.9)
    test.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), 2)
    with test.assertRaises(SegmentExistsError):
        logic.draft_hematoma_segment(volume, segmentation, seed_point_ras=seed)
    logic.draft_hematoma_segment(volume, segmentation, seed_point_ras=seed, overwrite=True)
    test.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), 2)


def _predict_files_as_the_command_line(
    logic: Any, ct_path: Path, hematoma_path: Path, out: Path
) -> list[Path]:
    """What ``predict --ct --hematoma --segment 1 --out`` does: load the files, predict, write outputs."""
    volume, segmentation = load_case(logic.runtime, ct_path, hematoma_path)
    checklist = ApplicabilityChecklist(False, False, False)
    result = logic.predict(volume, segmentation, "1", None, checklist=checklist)
    intended_use = result.provenance.get("model_intended_use", "")
    return write_prediction(result, out, ct_path.name, checklist, intended_use)


def scenario_predict_drafted_hematoma_with_bundled_model(logic: Any, test: unittest.TestCase) -> None:
    """Draft the hematoma, predict with the bundled model, and compare with predicting from the files."""
    bundle = load_model(None)
    with tempfile.TemporaryDirectory() as folder:
        phantom, volume, segmentation = _load_phantom_case(logic, Path(folder))
        _, segment_id, _ = logic.draft_hematoma_segment(
            volume, segmentation, seed_point_ras=_seed_ras(phantom)
        )
        checklist = ApplicabilityChecklist(True, True, True)
        result = logic.predict(volume, segmentation, segment_id, bundle, checklist=checklist)
        test.assertTrue(0.0 <= result.probability <= 1.0)
        test.assertAlmostEqual(
            result.measurements["volume_ml"],
            phantom.truth["volume_ml"],
            delta=0.1 * phantom.truth["volume_ml"],
        )
        test.assertFalse(
            [w for w in result.warnings if "not confirmed" in w], "checklist warnings despite ticks"
        )
        table = table_node_rows(logic.prediction_table(result))
        test.assertEqual([row["feature"] for row in table], bundle.input_features)

        drafted, _ = segment_to_mask(logic.runtime, segmentation, segment_id, volume)
        draft_path = Path(folder) / "draft.nii.gz"
        sitk.WriteImage(drafted, str(draft_path))
        out = Path(folder) / "cli"
        ct_path = Path(folder) / f"{PHANTOM_CASE_ID}_ct.nrrd"
        written = _predict_files_as_the_command_line(logic, ct_path, draft_path, out)
        test.assertIn(out / "prediction.json", written)
        from_files = json.loads((out / "prediction.json").read_text())
        test.assertAlmostEqual(from_files["probability"], result.probability, places=9)
        test.assertEqual(from_files["model_id"], bundle.model_id)


SCENARIOS: tuple[Callable[[Any, unittest.TestCase], None], ...] = (
    scenario_measure_loaded_phantom,
    scenario_bad_input_is_refused_and_nothing_changes,
    scenario_draft_hematoma_matches_truth,
    scenario_predict_drafted_hematoma_with_bundled_model,
)
