"""Plain data crossing from the student's process to the grader: what a function returned (:class:`Value`) and
how a call ended (:class:`Outcome`). Arrays travel as ``.npy`` bytes (never pickle). The grader re-validates
everything it receives (:mod:`autograder.judging.records`); these classes only encode."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_ERROR_CHARS = 2000


@dataclass
class Value:
    """What a student function returned: ``kind`` is "tensor", "ndarray", "float", "int", "bool", "tuple" or
    "other"; ``requires_grad`` and ``device`` are recorded for tensors (the grader checks the docstring's
    contract)."""

    kind: str
    type_name: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    array: np.ndarray | None = None
    items: list[Value] | None = None
    requires_grad: bool | None = None

    def to_json(self) -> dict:
        data = {"kind": self.kind, "type_name": self.type_name, "dtype": self.dtype,
                "shape": list(self.shape) if self.shape is not None else None, "requires_grad": self.requires_grad}
        if self.array is not None:
            buffer = io.BytesIO()
            np.save(buffer, self.array, allow_pickle=False)
            data["npy"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        if self.items is not None:
            data["items"] = [item.to_json() for item in self.items]
        return data


def to_value(obj: Any) -> Value:
    """Convert a returned object into plain data. Only exact torch.Tensor / np.ndarray / Python numbers and
    tuples/lists of those are accepted; subclasses and other objects are recorded by type name only."""
    import torch

    if type(obj) is torch.Tensor:
        tensor = torch.Tensor.detach(obj)
        return Value("tensor", "torch.Tensor", str(tensor.dtype).replace("torch.", ""), tuple(tensor.shape),
                     np.array(tensor.cpu().tolist() if tensor.dtype == torch.bfloat16 else tensor.cpu().numpy()),
                     requires_grad=bool(obj.requires_grad))
    if type(obj) is np.ndarray:
        if obj.dtype == object:
            return Value("other", "numpy.ndarray[object]")
        return Value("ndarray", "numpy.ndarray", str(obj.dtype), tuple(obj.shape), np.array(obj))
    if type(obj) is bool:
        return Value("bool", "bool", array=np.array(obj))
    if type(obj) is int:
        return Value("int", "int", array=np.array(float(obj)))
    if type(obj) is float:
        return Value("float", "float", array=np.array(obj))
    if type(obj) in (tuple, list):
        return Value("tuple", type(obj).__name__, items=[to_value(item) for item in obj])
    return Value("other", f"{type(obj).__module__}.{type(obj).__qualname__}")


@dataclass
class Outcome:
    """The result of calling the student's function on one case: a value or an error message."""

    case: int
    value: Value | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"case": self.case, "value": self.value.to_json() if self.value else None,
                "error": self.error, "seconds": self.seconds}
