"""Feedback sends students to a chapter section: every section a check names must exist in the book.

When a maintainer renames a heading in book/, this test names the checks whose feedback would point nowhere.
"""

import re
from pathlib import Path

from autograder.judging import JUDGES

BOOK = Path(__file__).resolve().parents[1] / "book"


def book_headings() -> dict[str, set[str]]:
    headings = {}
    for chapter in sorted(BOOK.glob("ch*.md")):
        text = chapter.read_text(encoding="utf-8")
        title = re.search(r"^# (.+)$", text, re.M).group(1).strip()
        prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # headings only, not code comments
        headings[title.lower()] = {re.sub(r"^#+\s*", "", line).strip() for line in prose.splitlines()
                                   if line.startswith("#")}
    return headings


def test_every_check_points_at_an_existing_chapter_and_section():
    headings = book_headings()
    all_headings = set().union(*headings.values())
    problems = []
    for name, check in JUDGES.items():
        chapters = re.findall(r"Chapter \d \(([^)]+)\)", check.section)
        if not chapters:
            problems.append(f"{name}: names no chapter ({check.section!r})")
        for chapter in chapters:
            if chapter.lower() not in headings:
                problems.append(f"{name}: no chapter titled {chapter!r}")
        for section in re.findall(r"section '(.+?)'(?=,| \(|$)", check.section):
            if section not in all_headings:
                problems.append(f"{name}: no section {section!r} in the book")
    assert not problems, "\n".join(problems)
