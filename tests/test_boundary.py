"""The trust boundary on its own: what a submission's process sends is limited, cleaned and validated before the
grader looks at it (autograder/boundary.py for the message stream, autograder/judging/records.py for values)."""

import base64
import io
import json
import socket
import threading
import time

import numpy as np
import pytest

from autograder.boundary import (
    MAX_DEPTH,
    BoundaryError,
    LineReader,
    clean_cell_message,
    clean_strings,
    clean_text,
    parse_line,
)
from autograder.judging.records import MAX_ELEMENTS, RecordError, decode_outcome, decode_value
from autograder.student.values import to_value


def npy(array, allow_pickle=False) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return base64.b64encode(buffer.getvalue()).decode()


def tensor_record(shape, data, dtype="float32") -> dict:
    return {"kind": "tensor", "type_name": "torch.Tensor", "dtype": dtype, "shape": list(shape), "npy": data}


def test_an_honest_value_round_trips():
    import torch

    value = decode_value(to_value((torch.arange(6.0).reshape(2, 3), 1.5, np.ones(2, np.int64))).to_json())
    tensor, number, array = value.items
    assert tensor.shape == (2, 3) and tensor.dtype == "float32" and tensor.array.sum() == 15
    assert number.kind == "float" and float(number.array) == 1.5
    assert array.kind == "ndarray" and array.dtype == "int64"


@pytest.mark.parametrize("record, reason", [
    (tensor_record((2,), npy(np.zeros((1000, 1), np.float32))), "claims (2,)"),  # data larger than claimed
    (tensor_record((2,), npy(np.zeros(2, np.float64))), "dtype float64 but claims float32"),
    (tensor_record((10**9,), ""), "elements"),  # a claim larger than any check asks for
    (tensor_record((2,), npy(np.array([None, 1.0], dtype=object), allow_pickle=True)), "dtype 'object'"),
    (tensor_record((2,), "!!!!"), "not valid base64"),
    (tensor_record((2,), base64.b64encode(b"\x93NUMPY\x01\x00" + b"x" * 20).decode()), "no valid .npy header"),
    (tensor_record((2,), npy(np.zeros(2, np.float32))[:-4]), "not as long as its header"),
    (tensor_record([-1], ""), "non-negative"),
    ({"kind": "banana", "type_name": "x"}, "unknown value kind"),
    ({"kind": "tuple", "type_name": "tuple", "items": [{"kind": "other", "type_name": "x"}] * 65}, "short list"),
    ({"kind": "tensor", "type_name": 5}, "not text"),
    ({"kind": "float", "type_name": "float", "npy": npy(np.zeros(3))}, "claims ()"),
])
def test_a_forged_value_is_refused_with_a_reason(record, reason):
    with pytest.raises(RecordError, match=None) as caught:
        decode_value(record)
    assert reason in str(caught.value), str(caught.value)


def test_values_nested_deeper_than_allowed_are_refused():
    value = to_value(np.zeros(1)).to_json()
    for _ in range(10):
        value = {"kind": "tuple", "type_name": "tuple", "items": [value]}
    with pytest.raises(RecordError, match="nested too deeply"):
        decode_value(value)


def test_an_outcome_needs_a_case_number():
    with pytest.raises(RecordError):
        decode_outcome({"case": "0", "value": None})
    assert decode_outcome({"case": 3, "value": None, "error": "x", "seconds": float("nan")}).seconds == 0.0


def test_max_elements_covers_the_largest_honest_value():
    assert MAX_ELEMENTS >= 200 * 2 * 3 * 10 * 100


def test_clean_text_replaces_lone_surrogates_and_control_characters():
    cleaned = clean_text("a\ud800b\x00c\x1b[31md\ne\tf")
    assert cleaned == "a\ufffdbc[31md\ne\tf"
    cleaned.encode("utf-8")  # writable by every writer
    assert clean_strings({"k\udfff": ["\ud800", 1, None, 2.5]}) == {"k\ufffd": ["\ufffd", 1, None, 2.5]}


def test_clean_strings_refuses_deep_nesting():
    deep = []
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(BoundaryError):
        clean_strings(deep)


def test_parse_line_survives_nesting_past_the_recursion_limit():
    with pytest.raises(BoundaryError, match="nests too deeply"):
        parse_line(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(BoundaryError, match="not JSON"):
        parse_line(b"\xff\xfe{")


def cell_message(**changes) -> dict:
    message = {"position": 3, "grade_id": "t", "status": "ok", "error": None, "seconds": 0.1, "stdout": "",
               "stderr": "", "stdout_total": 0, "stderr_total": 0, "records": []}
    message.update(changes)
    return message


@pytest.mark.parametrize("changes, reason", [
    ({"position": 7}, "was not run"),
    ({"position": "3"}, "not an integer"),
    ({"status": "passed"}, "unknown cell status"),
    ({"records": [{"kind": "visible", "outcomes": []}] * 65}, "more than 64"),
    ({"records": [{"kind": "secret", "outcomes": []}]}, "unknown kind"),
    ({"records": [{"kind": "hidden", "outcomes": "x"}]}, "short list"),
    ({"error": 42}, "not text"),
])
def test_a_malformed_cell_message_is_refused(changes, reason):
    with pytest.raises(BoundaryError, match=reason):
        clean_cell_message(cell_message(**changes), {3})


def test_a_cell_message_keeps_only_known_fields_cleaned():
    cleaned = clean_cell_message(cell_message(extra="x" * 100, stdout="\ud800", grade_id="g\x07"), {3})
    assert "extra" not in cleaned and cleaned["stdout"] == "\ufffd" and cleaned["grade_id"] == "g"


def feed(chunks: list[bytes], delay: float = 0.0) -> socket.socket:
    ours, theirs = socket.socketpair()

    def writer():
        for chunk in chunks:
            try:
                theirs.sendall(chunk)
            except OSError:
                break
            time.sleep(delay)
        theirs.close()

    threading.Thread(target=writer, daemon=True).start()
    return ours


def test_line_reader_returns_lines_across_chunks():
    reader = LineReader(feed([b'{"a"', b': 1}\n{"b": 2}\n', b"\n", b'{"c": 3}']))
    deadline = time.monotonic() + 5
    assert [reader.next_line(deadline) for _ in range(3)] == [b'{"a": 1}', b'{"b": 2}', None]


def test_line_reader_refuses_a_message_over_its_limit_without_buffering_it():
    """4 MiB without a newline: refused once a message passes 100,000 bytes, holding at most that plus one read
    (recv of up to 1 MiB, however the sender's writes were split)."""
    reader = LineReader(feed([b"x" * 65536] * 64), max_message=100_000, max_total=10**9)
    with pytest.raises(BoundaryError, match="larger than"):
        reader.next_line(time.monotonic() + 10)
    assert len(reader.pending) <= 100_000 + (1 << 20)


def test_line_reader_refuses_a_submission_over_its_total():
    reader = LineReader(feed([b"{}\n" * 1000] * 10), max_message=1000, max_total=5000)
    with pytest.raises(BoundaryError, match="more than"):
        while reader.next_line(time.monotonic() + 10) is not None:
            pass


def test_line_reader_times_out():
    reader = LineReader(feed([b"{}"], delay=5))
    with pytest.raises(TimeoutError):
        reader.next_line(time.monotonic() + 0.3)


def test_json_of_a_cell_message_round_trips():
    message = cell_message(records=[{"cell": "t", "name": "n", "kind": "visible",
                                     "outcomes": [{"case": 0, "value": to_value(1.0).to_json()}]}])
    assert clean_cell_message(parse_line(json.dumps(message).encode()), {3})["records"][0]["name"] == "n"
