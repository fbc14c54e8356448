"""What a new assignment's judge module uses while it is being written: :func:`todo`, the placeholder ``python -m
autograder new`` leaves where the reference answer is still to be written. (Its wrong implementations are
misconceptions: autograder/judging/misconceptions.)"""

from __future__ import annotations


class NotWrittenYet(NotImplementedError):
    """A placeholder of a new assignment that is still to be filled in."""


def todo(what: str, *inputs) -> object:
    """Stands where the reference answer is still to be written (``python -m autograder new`` puts it there):
    every judgement fails with this message until it is replaced."""
    raise NotWrittenYet(f"not written yet: {what}")
