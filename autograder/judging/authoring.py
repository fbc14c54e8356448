"""What an assignment's judge module uses besides the judges: its wrong implementations (:class:`Mutant`), and
:func:`todo`, the placeholder ``python -m autograder new`` leaves where the reference is still to be written."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """A wrong implementation of a graded function, as a student would write it. The judge module lists them in
    ``MUTANTS``; the grading-correctness tests grade each one (tests/submissions/make_submissions.py collects them):
    it must fail its checks under every one of 20 grading seeds, which shows that the judge catches the bugs it is
    there for.

    name: short unique slug, after the bug. function: the notebook's function it replaces. description: the bug in a
    few words. source: the whole ``def`` as the student would write it (it may use the notebook's imports and its
    other functions). checks: the checks it must fail (default: the one named like the function). statistical:
    judged by a statistical check (its power is then measured too)."""

    name: str
    function: str
    description: str
    source: str
    checks: tuple[str, ...] = ()
    statistical: bool = False

    @property
    def failing(self) -> tuple[str, ...]:
        return self.checks or (self.function,)


class NotWrittenYet(NotImplementedError):
    """A placeholder of a new assignment that is still to be filled in."""


def todo(what: str, *inputs) -> object:
    """Stands where the reference answer is still to be written (``python -m autograder new`` puts it there):
    every judgement fails with this message until it is replaced."""
    raise NotWrittenYet(f"not written yet: {what}")
