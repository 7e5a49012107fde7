"""Official evaluation: metrics, the evaluator (numpy in, dict out), prediction files and the fixed
linear probe."""
from benchmark.evaluation.evaluator import EVALUATOR_VERSION, Evaluator, align
from benchmark.evaluation.linear_probe import fit_linear_probe, full_proba
from benchmark.evaluation.metrics import classification_metrics, robustness_summary
from benchmark.evaluation.predictions import (SCORE_DTYPE, PredictionArchive, PredictionError, load_predictions,
                                              read_npz, save_predictions, write_npz)

__all__ = ["EVALUATOR_VERSION", "Evaluator", "PredictionError", "PredictionArchive", "SCORE_DTYPE", "align",
           "load_predictions", "read_npz", "save_predictions", "write_npz", "fit_linear_probe", "full_proba",
           "classification_metrics", "robustness_summary"]
