"""Decoding what the student's process recorded, trusting nothing (grader side).

Every record arrives as JSON-shaped data that the student's code could have forged. Before any value reaches a
judge, this module checks each field's type, that the nesting is shallow, that the array's real shape and dtype
(read from the ``.npy`` header BEFORE the data is loaded) equal the claimed ones, and that no array is larger than
``MAX_ELEMENTS``. A violation raises :class:`RecordError`, which fails that check with the reason.
"""

from __future__ import annotations

import base64
import binascii
import math
import re

import numpy as np

from ..student.values import Outcome, Value

KINDS = ("tensor", "ndarray", "float", "int", "bool", "tuple", "repeated", "calls", "other")
ARRAY_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "bool", "complex64", "complex128")
CLAIMED_DTYPES = ARRAY_DTYPES + ("bfloat16",)
CARRIED_AS = {"bfloat16": "float64"}  # to_value() sends bfloat16 tensors as float64 arrays
MAX_ELEMENTS = 4_000_000  # per array: larger than any check asks for (the biggest is 200 x 2 x 3 x 10 doubles)
MAX_DIMS = 8
MAX_ITEMS = 64  # entries of a returned tuple
MAX_CALLS = 5000  # calls of one case recorded by a statistical check (checks make <= 200, calibration tests more)
MAX_DEPTH = 5  # tuples inside tuples (a scaling case: pair > result tuple > calls > call's tuple > tensor)
MAX_TEXT = 4000
MAX_CASES = 10_000


class RecordError(ValueError):
    """A record that does not have the form the student-side code writes."""


def _text(value, what: str, allow_none: bool = True) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what} is not text")
    return value[:MAX_TEXT]


def _shape(value) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_DIMS:
        raise RecordError("a shape is not a short list")
    if not all(type(n) is int and n >= 0 for n in value):
        raise RecordError("a shape holds something other than non-negative integers")
    if math.prod(value) > MAX_ELEMENTS:
        raise RecordError(f"an array claims {math.prod(value)} elements (the grader accepts {MAX_ELEMENTS})")
    return tuple(value)


# The header np.save writes (format versions 1.0 and 2.0), matched whole: dtype, memory order, shape. Parsing it with
# this pattern, not numpy's literal_eval, is both stricter and about ten times faster (a ps4 submission sends ~500
# arrays).
NPY_MAGIC = b"\x93NUMPY"
NPY_HEADER = re.compile(r"\{'descr': '([<>|=][a-zA-Z]\d{0,2})', 'fortran_order': (True|False), "
                        r"'shape': \(((?:\d{1,12}, )*\d{1,12},?|)\), \} *\n")
MAX_HEADER = 1024


def _npy_header(raw: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, offset of the data) of .npy bytes, or RecordError."""
    if raw[:6] != NPY_MAGIC or len(raw) < 10:
        raise RecordError("an array is not in .npy form")
    version = (raw[6], raw[7])
    if version == (1, 0):
        length, start = int.from_bytes(raw[8:10], "little"), 10
    elif version == (2, 0):
        length, start = int.from_bytes(raw[8:12], "little"), 12
    else:
        raise RecordError(f"an array has .npy version {version}")
    if length > MAX_HEADER or start + length > len(raw):
        raise RecordError("an array has no valid .npy header (length)")
    match = NPY_HEADER.fullmatch(raw[start:start + length].decode("latin-1"))
    if match is None:
        raise RecordError("an array has no valid .npy header")
    try:
        dtype = np.dtype(match[1])
    except TypeError:
        raise RecordError(f"an array has dtype {match[1]!r}") from None
    shape = tuple(int(n) for n in match[3].replace(",", " ").split())
    if len(shape) > MAX_DIMS:
        raise RecordError(f"an array has {len(shape)} dimensions")
    return shape, match[2] == "True", dtype, start + length


def _array(encoded, claimed_shape: tuple[int, ...] | None, claimed_dtype: str | None) -> np.ndarray:
    if not isinstance(encoded, str):
        raise RecordError("an array is not base64 text")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError("an array is not valid base64") from None
    shape, fortran, dtype, offset = _npy_header(raw)
    if dtype.hasobject or dtype.name not in ARRAY_DTYPES:
        raise RecordError(f"an array has dtype {dtype.name!r}")
    if claimed_shape is not None and shape != claimed_shape:
        raise RecordError(f"an array's data has shape {shape} but claims {claimed_shape}")
    expected_dtype = CARRIED_AS.get(claimed_dtype, claimed_dtype)
    if expected_dtype is not None and dtype.name != expected_dtype:
        raise RecordError(f"an array's data has dtype {dtype.name} but claims {claimed_dtype}")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise RecordError(f"an array has {count} elements (the grader accepts {MAX_ELEMENTS})")
    if len(raw) - offset != count * dtype.itemsize:
        raise RecordError("an array's data is not as long as its header says")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return data.reshape(shape, order="F" if fortran else "C").copy()


def decode_value(data, depth: int = 0) -> Value:
    if depth > MAX_DEPTH:
        raise RecordError("returned values are nested too deeply")
    if not isinstance(data, dict):
        raise RecordError("a value is not a record")
    kind = data.get("kind")
    if kind not in KINDS:
        raise RecordError(f"unknown value kind {str(kind)[:40]!r}")
    type_name = _text(data.get("type_name"), "a type name", allow_none=False)
    requires_grad = data.get("requires_grad")
    if requires_grad is not None and type(requires_grad) is not bool:
        raise RecordError("requires_grad is not true or false")
    device = _text(data.get("device"), "a device")
    if device is not None and len(device) > 40:
        raise RecordError("a device name is too long")
    if kind in ("tuple", "calls"):
        items = data.get("items")
        limit = MAX_ITEMS if kind == "tuple" else MAX_CALLS
        if not isinstance(items, list) or len(items) > limit:
            raise RecordError(f"a returned {kind} is not a short list")
        return Value(kind, type_name, items=[decode_value(item, depth + 1) for item in items])
    if kind == "other":
        return Value("other", type_name)
    dtype = data.get("dtype")
    shape = None
    if kind in ("tensor", "ndarray", "repeated"):
        if dtype not in CLAIMED_DTYPES:
            raise RecordError(f"a {kind} claims dtype {str(dtype)[:40]!r}")
        shape = _shape(data.get("shape"))
        array = _array(data.get("npy"), shape, dtype)
    else:  # float, int, bool: one number
        dtype = None
        array = _array(data.get("npy"), (), "bool" if kind == "bool" else "float64")
    return Value(kind, type_name, dtype, shape, array, None, requires_grad, device)


def decode_outcome(data) -> Outcome:
    if not isinstance(data, dict):
        raise RecordError("an outcome is not a record")
    case = data.get("case")
    if type(case) is not int or not 0 <= case < MAX_CASES:
        raise RecordError("an outcome has no valid case number")
    seconds = data.get("seconds", 0.0)
    if type(seconds) not in (int, float) or not math.isfinite(seconds):
        seconds = 0.0
    value = data.get("value")
    return Outcome(case, decode_value(value) if value is not None else None,
                   _text(data.get("error"), "an error message"), float(seconds))
