"""Installed models: the bundles shipped in Resources/Models and any folders a user adds.

Only the model cards (``model.json``) are read to list models; the arrays are loaded and verified
by :func:`.bundle.load_bundle` when a model is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.errors import ModelError
from .bundle import CARD_FILE, ModelBundle, load_bundle

BUNDLED_MODELS_DIR = Path(__file__).resolve().parents[2] / "Resources" / "Models"
DEFAULT_MODEL_ID = "phantom-v2-fused"


@dataclass(frozen=True)
class ModelSummary:
    """What a user sees of a model before choosing it."""

    model_id: str
    kind: str
    folder: Path
    n_train: int | None
    n_positive: int | None
    test_auc: float | None
    intended_use: str

    def describe(self) -> str:
        """One paragraph for the model selector and the command line."""
        trained = (
            f"trained on {self.n_train} cases ({self.n_positive} expanding)"
            if self.n_train
            else "training size unknown"
        )
        auc = f"test AUC {self.test_auc:.3f}" if self.test_auc is not None else "no test AUC recorded"
        return f"{self.model_id} ({self.kind}): {trained}, {auc}. {self.intended_use}".strip()


def _summary(folder: Path, card: dict[str, Any]) -> ModelSummary:
    cohort = card.get("training_cohort", {})
    test_auc = card.get("metrics", {}).get("test", {}).get("auc", {})
    return ModelSummary(
        model_id=card["model_id"],
        kind=card["kind"],
        folder=folder,
        n_train=cohort.get("n"),
        n_positive=cohort.get("n_positive"),
        test_auc=test_auc.get("auc") if isinstance(test_auc, dict) else None,
        intended_use=str(card.get("extra", {}).get("intended_use", "")),
    )


def _model_folders(search_dirs: Iterable[Path]) -> list[Path]:
    folders = []
    for root in search_dirs:
        root = Path(root)
        if (root / CARD_FILE).is_file():
            folders.append(root)
        elif root.is_dir():
            folders.extend(sorted(p.parent for p in root.glob(f"*/{CARD_FILE}")))
    return folders


def available_models(extra_dirs: Iterable[Path | str] = ()) -> list[ModelSummary]:
    """Bundled models, then those under ``extra_dirs`` (a model folder or a folder of them)."""
    summaries = []
    for folder in _model_folders([BUNDLED_MODELS_DIR, *map(Path, extra_dirs)]):
        try:
            card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
            summaries.append(_summary(folder, card))
        except (OSError, ValueError, KeyError) as error:
            raise ModelError(f"model card {folder / CARD_FILE} cannot be read: {error}") from error
    return summaries


def resolve_model(reference: str | Path | None, extra_dirs: Iterable[Path | str] = ()) -> Path:
    """A model folder from a path, a model id, or None (the default bundled model)."""
    reference = str(reference) if reference else DEFAULT_MODEL_ID
    if (Path(reference) / CARD_FILE).is_file():
        return Path(reference)
    models = available_models(extra_dirs)
    for summary in models:
        if summary.model_id == reference:
            return summary.folder
    known = ", ".join(m.model_id for m in models) or "none installed"
    raise ModelError(
        f"model {reference!r} is neither a model folder nor an installed model id (installed: {known})."
    )


def load_model(reference: str | Path | None, extra_dirs: Iterable[Path | str] = ()) -> ModelBundle:
    """Resolve and load (with checksum verification) a model bundle."""
    return load_bundle(resolve_model(reference, extra_dirs))
