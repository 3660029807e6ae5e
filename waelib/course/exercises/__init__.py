"""Check functions for the notebooks' exercises: one module per chapter (``ch01``, ``ch02``,
``ch02b``, ``ch03``, ``ch04``, ``ch05``, ``ch06``, ``ch07``).

Each check computes the expected answer itself (a closed form, an independent computation) and
compares: ``ch01.check_gap(answer)`` returns a :class:`Verdict` whose text says what is right or
what to look at, and that prints itself in a notebook. A check never reveals the answer beyond
the hint; the solutions are the notebooks' collapsed cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

__all__ = ["Verdict", "close"]


@dataclass(frozen=True)
class Verdict:
    """The result of a check: ``ok`` and the message a student reads."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return ("✓ " if self.ok else "✗ ") + self.message



def close(answer: Any, expected: Any, *, rel: float, what: str, hint: str = "",
          abs_tol: Optional[float] = None) -> Verdict:
    """A :class:`Verdict` for a number or tensor ``answer`` against ``expected`` within ``rel``
    (relative) or ``abs_tol``; ``what`` names the quantity, ``hint`` says where to look."""
    try:
        a = torch.as_tensor(answer, dtype=torch.float64)
        e = torch.as_tensor(expected, dtype=torch.float64)
    except (TypeError, ValueError):
        return Verdict(False, f"{what}: expected a number or a tensor, got {type(answer).__name__}")
    if a.shape != e.shape:
        return Verdict(False, f"{what}: expected shape {tuple(e.shape)}, got {tuple(a.shape)}")
    tol = (abs_tol if abs_tol is not None else 0.0) + rel * e.abs()
    if bool(((a - e).abs() <= tol).all()):
        return Verdict(True, f"{what}: right")
    return Verdict(False, f"{what}: not yet" + (f" -- {hint}" if hint else ""))
