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
    """What a student function returned: ``kind`` is "tensor", "ndarray", "float", "int", "bool", "tuple",
    "repeated", "calls" or "other"; ``requires_grad`` and ``device`` are recorded for tensors (the grader checks
    the docstring's contract).

    "repeated" and "calls" hold the results of several calls of the function on one case (:class:`Calls`):
    "repeated" when every call returned an exact torch.Tensor of the same dtype, shape, device and
    ``requires_grad`` (one array, the calls stacked along a new first axis), "calls" otherwise (one item per
    call)."""

    kind: str
    type_name: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    array: np.ndarray | None = None
    items: list[Value] | None = None
    requires_grad: bool | None = None
    device: str | None = None

    def to_json(self) -> dict:
        data = {"kind": self.kind, "type_name": self.type_name, "dtype": self.dtype,
                "shape": list(self.shape) if self.shape is not None else None, "requires_grad": self.requires_grad,
                "device": self.device}
        if self.array is not None:
            buffer = io.BytesIO()
            np.save(buffer, self.array, allow_pickle=False)
            data["npy"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        if self.items is not None:
            data["items"] = [item.to_json() for item in self.items]
        return data


class Calls(list):
    """The results of calling a student's function several times on one case (the statistical checks judge the
    spread of independent calls as well as their mean). :func:`to_value` records it as one Value."""


def _tensor_array(tensor) -> np.ndarray:
    import torch

    tensor = torch.Tensor.detach(tensor).cpu()
    return np.array(tensor.tolist() if tensor.dtype == torch.bfloat16 else tensor.numpy())


def _dtype_name(tensor) -> str:
    return str(tensor.dtype).replace("torch.", "")


def _calls_value(results: Calls) -> Value:
    import torch

    if results and all(type(r) is torch.Tensor for r in results):
        first = results[0]
        signature = (first.dtype, tuple(first.shape), bool(first.requires_grad), str(first.device))
        if first.dtype != torch.bfloat16 and all(
                (r.dtype, tuple(r.shape), bool(r.requires_grad), str(r.device)) == signature for r in results):
            array = np.stack([_tensor_array(r) for r in results])
            return Value("repeated", "torch.Tensor", _dtype_name(first), tuple(array.shape), array,
                         requires_grad=signature[2], device=signature[3])
    return Value("calls", "calls", items=[to_value(r) for r in results])


def to_value(obj: Any) -> Value:
    """Convert a returned object into plain data. Only exact torch.Tensor / np.ndarray / Python numbers and
    tuples/lists of those are accepted; subclasses and other objects are recorded by type name only."""
    import torch

    if type(obj) is Calls:
        return _calls_value(obj)
    if type(obj) is torch.Tensor:
        return Value("tensor", "torch.Tensor", _dtype_name(obj), tuple(obj.shape), _tensor_array(obj),
                     requires_grad=bool(obj.requires_grad), device=str(obj.device))
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
