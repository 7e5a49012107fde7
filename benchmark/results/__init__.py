"""Result files (JSON, schema in ``schema.json``) and leaderboard submission.

``build_result`` / ``write_result`` / ``load_result`` are what ``python -m benchmark run`` uses;
``submit`` is ``python -m benchmark submit``.  Leaderboard pages: :mod:`benchmark.leaderboard`.
"""
from benchmark.results.io import (FORMAT, MAX_RESULT_BYTES, SCHEMA_PATH, ResultFileError, build_result,
                                  check_result, compute_aggregate, describe_hardware, load_result,
                                  load_schema, prediction_relpath, write_result)
from benchmark.results.submit import MIN_SEEDS, SubmissionError, SubmissionReport, submit, validate_submission

__all__ = ["FORMAT", "MAX_RESULT_BYTES", "SCHEMA_PATH", "ResultFileError", "build_result", "check_result",
           "compute_aggregate", "describe_hardware", "load_result", "load_schema", "prediction_relpath",
           "write_result", "MIN_SEEDS", "SubmissionError", "SubmissionReport", "submit", "validate_submission"]
