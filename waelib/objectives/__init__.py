"""One objective per model kind: its optimisers, defaults, options and training step.

Each module holds one :class:`~waelib.objectives.base.Objective` subclass; the registry
(:mod:`waelib.registry`) names, for every model, the objective it trains with. The trainer's
loop (:mod:`waelib.train`) knows no model: it calls the objective.

Which model trains with which objective is said in one place, the registry's table
(:mod:`waelib.registry`). To add a model kind: one new module here and one entry in :mod:`waelib.registry`.
"""
from .base import Objective, OptimizerSpec, StepContext

__all__ = ["Objective", "OptimizerSpec", "StepContext"]
