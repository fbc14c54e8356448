"""The course autograder: nbgrader underneath (cell metadata, generate_assignment, the SQLite gradebook),
with fast parallel execution, judging outside the student's code path and readable feedback.

Entry points: ``python -m autograder release|grade|check`` (see ``autograder/__main__.py``).
All comparisons (how an answer is judged) live in :mod:`autograder.checks`.
"""

import sys as _sys

# jsonschema (imported by nbformat) loads rfc3987_syntax when it is installed, which compiles Lark grammars for
# 1.4-6 s at import (../shared/notes/grading-speed.md) to check the "iri" string format, which no notebook schema
# uses. Every autograder process imports nbformat; a None entry makes that optional import fail fast instead.
_sys.modules.setdefault("rfc3987_syntax", None)
