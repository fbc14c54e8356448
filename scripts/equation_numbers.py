"""Equation numbers as the reader sees them, and the code comments that cite them.

Code cells cite equations by the number printed beside them, "eq. (4.3)", never by label. Those numbers depend on
the configuration: with `numbered: true` in _toc.yml and a numfig_secnum_depth other than 0 in _config.yml a
chapter's equations are (chapter.n); otherwise (this book: numfig_secnum_depth 0) one counter runs through the
book. This script computes label -> number from the sources in toc order (the test in
tests/test_book_equation_numbers.py checks it against the built HTML) and:

    python scripts/equation_numbers.py                 check every "eq. (N)" in the chapters' code cells
    python scripts/equation_numbers.py --table         print label -> number
    python scripts/equation_numbers.py --fill          replace "eq. (@label)" or "eq. (label)" by the number
    python scripts/equation_numbers.py --renumber-from global|chapter
                                                       rewrite numbers written under the other numbering mode
                                                       (e.g. after `numbered: true` is switched on in _toc.yml)
    ... --only ch3 ch4                                 restrict any of these to some documents

A cited number must belong to an equation of the same chapter, unless the line names another chapter.
"Equation (1) of the notes" (the lecture's own numbering) is left alone.
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EQUATION_LABEL = re.compile(r"^\$\$ \(([A-Za-z0-9_-]+)\)\s*$")  # closing line of a labelled display equation
MATH_DIRECTIVE_LABEL = re.compile(r"^:label: ([A-Za-z0-9_-]+)\s*$")
CITATION = re.compile(r"\beq\. \((@?[A-Za-z0-9_.-]+)\)(?! of the notes)")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?$(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def chapters(root: Path = ROOT) -> list[tuple[str, bool]]:
    """(file, numbered) for every document of the table of contents, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [(toc["root"], False)]
    for part in toc.get("parts", []):
        entries += [(chapter["file"], bool(part.get("numbered", False))) for chapter in part["chapters"]]
    return entries


def equation_labels(text: str) -> list[str]:
    """Labels of the numbered equations of one MyST document, in order."""
    labels, in_math = [], False
    for line in text.splitlines():
        if line.startswith("```{math}"):
            in_math = True
        elif in_math and MATH_DIRECTIVE_LABEL.match(line):
            labels.append(MATH_DIRECTIVE_LABEL.match(line).group(1))
        elif in_math and line.startswith("```"):
            in_math = False
        elif EQUATION_LABEL.match(line):
            labels.append(EQUATION_LABEL.match(line).group(1))
    return labels


def numbers_by_chapter(root: Path = ROOT) -> bool:
    """Sphinx prefixes equation numbers with the chapter's only when numfig_secnum_depth (default 1) is not 0."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    depth = (config.get("sphinx", {}).get("config", {}) or {}).get("numfig_secnum_depth", 1)
    return depth != 0


def numbering(mode: str | None = None, root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """label -> (number as printed, document). ``mode`` "chapter" or "global"; None reads it from _toc.yml (a
    numbered part) and _config.yml (numfig_secnum_depth)."""
    result, counter, chapter_index = {}, 0, 0
    secnum = numbers_by_chapter(root)
    for document, numbered in chapters(root):
        by_chapter = (numbered and secnum) if mode is None else mode == "chapter"
        chapter_index += numbered
        path = root / f"{document}.md"
        if not path.exists():
            continue
        for n, label in enumerate(equation_labels(path.read_text()), start=1):
            counter += 1
            result[label] = (f"{chapter_index}.{n}" if by_chapter else str(counter), document)
    return result


def citations(text: str):
    """(line, cited number or @label) for every "eq. (N)" inside a code cell."""
    for cell in CODE_CELL.finditer(text):
        for line in cell.group(1).splitlines():
            for match in CITATION.finditer(line):
                yield line, match.group(1)


def selected(root: Path, only: list[str] | None):
    """The documents of the toc, or those whose file name contains one of ``only`` (e.g. "ch4")."""
    return [doc for doc, _ in chapters(root) if not only or any(part in doc for part in only)]


def check(root: Path = ROOT, only: list[str] | None = None) -> list[str]:
    numbers = numbering(root=root)
    owner = {number: document for number, document in numbers.values()}
    problems = []
    for document in selected(root, only):
        path = root / f"{document}.md"
        if not path.exists():
            continue
        for line, cited in citations(path.read_text()):
            where = f"{path.relative_to(root)}: {line.strip()}"
            if cited.startswith("@"):
                problems.append(f"{where}\n    placeholder left: run scripts/equation_numbers.py --fill")
            elif cited not in owner:
                problems.append(f"{where}\n    ({cited}) is no equation number of the book")
            elif owner[cited] != document and "chapter" not in line.lower():
                problems.append(f"{where}\n    ({cited}) is an equation of {owner[cited]}, not of this chapter")
    return problems


def rewrite(convert, root: Path = ROOT, only: list[str] | None = None) -> int:
    """Apply ``convert(cited) -> new number`` to every citation inside code cells; returns the count changed."""
    changed = 0
    for document in selected(root, only):
        path = root / f"{document}.md"
        if not path.exists():
            continue
        text = path.read_text()

        def in_cell(cell):
            def one(match):
                nonlocal changed
                new = convert(match.group(1))
                changed += new != match.group(1)
                return f"eq. ({new})"

            return CITATION.sub(one, cell.group(0))

        path.write_text(CODE_CELL.sub(in_cell, text))
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--fill", action="store_true")
    parser.add_argument("--renumber-from", choices=["global", "chapter"])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only documents whose path contains NAME")
    args = parser.parse_args()
    numbers = numbering()
    if args.table:
        for label, (number, document) in numbers.items():
            print(f"({number})\t{label}\t{document}")
        return 0
    if args.fill:
        def fill(cited):  # "@label" or a bare label -> its number
            label = cited.removeprefix("@")
            return numbers[label][0] if label in numbers else cited

        print("placeholders filled:", rewrite(fill, only=args.only))
    if args.renumber_from:
        old = {number: label for label, (number, _) in numbering(args.renumber_from).items()}
        print("citations renumbered:", rewrite(lambda c: numbers[old[c]][0] if c in old else c, only=args.only))
    problems = check(only=args.only)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in the equation numbers cited by code cells")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
