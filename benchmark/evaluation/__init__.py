"""Official evaluation: metrics, the evaluator (numpy in, dict out) and the fixed linear probe."""
from benchmark.evaluation.evaluator import (Evaluator, PredictionError, align, load_predictions,
                                            save_predictions)
from benchmark.evaluation.linear_probe import fit_linear_probe, full_proba
from benchmark.evaluation.metrics import classification_metrics, robustness_summary


def evaluate_scores(family, truth, predictions, source_domain: str = "nominal") -> dict:
    """Score ``{domain: (event_id, scores)}`` against ``{domain: (event_id, labels[, weights])}``."""
    return Evaluator(family).eval_domains(truth, predictions, source_domain)


__all__ = ["Evaluator", "PredictionError", "align", "load_predictions", "save_predictions",
           "fit_linear_probe", "full_proba", "classification_metrics", "robustness_summary",
           "evaluate_scores"]
