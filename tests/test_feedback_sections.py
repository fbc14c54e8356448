"""Feedback sends students to a chapter section: every section a judge names must exist in the book, under the
label (the HTML anchor the feedback links to) and with the title the feedback prints.

When a maintainer renames a heading or a label in book/, this test names the checks whose feedback would point
nowhere.
"""

import re
from pathlib import Path

from autograder.judging import JUDGES
from autograder.judging.sections import CHAPTERS

BOOK = Path(__file__).resolve().parents[1] / "book"


def labelled_headings(document: str) -> dict[str, str]:
    """label -> the heading that follows it, for every ``(label)=`` line of a chapter (code blocks skipped)."""
    text = (BOOK / f"{document}.md").read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    found = {}
    for match in re.finditer(r"^\((?P<label>[\w-]+)\)=\s*\n+#+\s*(?P<title>.+)$", prose, re.M):
        found[match["label"]] = match["title"].strip()
    return found


def chapter_title(document: str) -> str:
    text = (BOOK / f"{document}.md").read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # the title, not a code comment
    return re.search(r"^# (.+)$", prose, re.M).group(1).strip()


def test_chapter_titles_match_the_book():
    for number, (document, title) in CHAPTERS.items():
        assert title.lower() in chapter_title(document).lower(), (number, document, chapter_title(document))


def test_every_reading_points_at_an_existing_labelled_section():
    problems = []
    for name, judge_def in JUDGES.items():
        assert judge_def.section, f"{name} names no section"
        for reading in judge_def.section:
            headings = labelled_headings(reading.document)
            if reading.label not in headings:
                problems.append(f"{name}: no label ({reading.label})= in book/{reading.document}.md")
            elif headings[reading.label] != reading.title:
                problems.append(f"{name}: ({reading.label})= is titled {headings[reading.label]!r}, "
                                f"the feedback says {reading.title!r}")
    assert not problems, "\n".join(problems)
