"""The record type shared by mutants.py and alternatives.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One function of one solution notebook replaced by ``source``.

    name: short unique slug (used for folder names).
    checks: the checks that must fail (a mutant) or pass (an alternative) because of this replacement.
    description: the bug, or what is different about the correct alternative.
    statistical: True when the replacement is judged by a statistical check (mutants: run under several seeds and
        its power measured; alternatives: run under 20 grading seeds).
    """

    name: str
    assignment: str
    function: str
    checks: tuple[str, ...]
    description: str
    source: str
    statistical: bool = False
