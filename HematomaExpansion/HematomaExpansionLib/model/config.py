"""The training configuration of the LASSO-SVM, recorded in every model card."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..common.errors import InputError


@dataclass(frozen=True)
class TrainingConfig:
    """Every choice of the training pipeline; recorded in the model card with :meth:`as_dict`.

    ``gamma_factors`` are multiples of 1 / (number of selected features), the RBF width that
    suits z-scored inputs (scikit-learn's ``gamma="scale"``).
    """

    seed: int = 2024
    univariate_filter: bool = True
    univariate_alpha: float = 0.05
    correlation_prune: bool = True
    correlation_threshold: float = 0.9
    lasso_folds: int = 10
    lasso_score: Literal["deviance", "auc"] = "deviance"
    lambda_rule: Literal["1se", "min"] = "1se"
    n_lambdas: int = 100
    lambda_min_ratio: float = 0.01
    lasso_tol: float = 1e-6
    lasso_max_iter: int = 1000
    fallback_features: int = 5
    svm_folds: int = 5
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    gamma_factors: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
    calibration_folds: int = 5

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise InputError("invalid training configuration: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        if self.lasso_score not in ("deviance", "auc"):
            problems.append(f"lasso_score must be 'deviance' or 'auc', not {self.lasso_score!r}")
        if self.lambda_rule not in ("1se", "min"):
            problems.append(f"lambda_rule must be '1se' or 'min', not {self.lambda_rule!r}")
        for name in ("lasso_folds", "svm_folds", "calibration_folds"):
            if getattr(self, name) < 2:
                problems.append(f"{name} must be at least 2")
        if self.n_lambdas < 2:
            problems.append("n_lambdas must be at least 2")
        if not 0.0 < self.lambda_min_ratio < 1.0:
            problems.append("lambda_min_ratio must lie in (0, 1)")
        if not 0.0 < self.univariate_alpha <= 1.0:
            problems.append("univariate_alpha must lie in (0, 1]")
        if not 0.0 < self.correlation_threshold <= 1.0:
            problems.append("correlation_threshold must lie in (0, 1]")
        if self.fallback_features < 1:
            problems.append("fallback_features must be at least 1")
        if not self.c_grid or min(self.c_grid) <= 0:
            problems.append("c_grid must hold positive values")
        if not self.gamma_factors or min(self.gamma_factors) <= 0:
            problems.append("gamma_factors must hold positive values")
        return problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the configuration."""
        values = asdict(self)
        values["c_grid"] = list(self.c_grid)
        values["gamma_factors"] = list(self.gamma_factors)
        return values
