"""Evaluating depth models on labelled data (``semdepth evaluate``).

``report`` (:class:`EvalReport`), ``runner`` (:func:`evaluate_model`, :func:`predict_fn`),
``loader`` (:func:`load_model_any`, the labelled images) and ``split``
(:func:`select_split`: the trainer's split from the model card). The metrics themselves
are :mod:`core.metrics`.
"""

from core.evaluate.loader import load_items, load_model_any
from core.evaluate.report import EvalReport, report_from
from core.evaluate.runner import BatchPredictFn, evaluate_model, predict_fn
from core.evaluate.split import SPLITS, select_split

__all__ = [
    "SPLITS",
    "BatchPredictFn",
    "EvalReport",
    "evaluate_model",
    "load_items",
    "load_model_any",
    "predict_fn",
    "report_from",
    "select_split",
]
