"""Result files (JSON, schema in ``schema.json``), their verification, the leaderboard store and
submission.

``build_result`` / ``write_result`` / ``load_result`` are what ``python -m benchmark run`` uses;
``submit`` is ``python -m benchmark submit``; :mod:`benchmark.results.store` holds the stored entries
and :mod:`benchmark.results.verify` recomputes a result against the data.  Pages:
:mod:`benchmark.leaderboard`.
"""
from benchmark.results.io import (FORMAT, MAX_RESULT_BYTES, SCHEMA_PATH, ResultFileError, build_result,
                                  check_result, compute_aggregate, describe_hardware, load_result,
                                  load_schema, prediction_relpath, write_result)
from benchmark.results.store import MIN_SEEDS, StoreError, default_leaderboard_dir, load_store
from benchmark.results.submit import SubmissionError, SubmissionReport, submit, validate_submission

__all__ = ["FORMAT", "MAX_RESULT_BYTES", "SCHEMA_PATH", "ResultFileError", "build_result", "check_result",
           "compute_aggregate", "describe_hardware", "load_result", "load_schema", "prediction_relpath",
           "write_result", "MIN_SEEDS", "StoreError", "default_leaderboard_dir", "load_store", "SubmissionError",
           "SubmissionReport", "submit", "validate_submission"]
