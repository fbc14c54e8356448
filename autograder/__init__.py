"""The course autograder: nbgrader underneath (cell metadata, generate_assignment, the SQLite gradebook),
with fast parallel execution, one sandbox per submission, judging outside the student's code path and readable
feedback.

Entry points: ``python -m autograder release|grade|check`` (see ``autograder/__main__.py``).
What the sandbox sees is :mod:`autograder.student`; every judgement lives in :mod:`autograder.judging`.
"""

import sys as _sys

# jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which compiles Lark grammars for the
# "iri" string format at import time: 1.4 s on an idle machine, in every process that reads a notebook. Nothing
# here validates IRIs; marking the module absent makes jsonschema skip that one format checker.
_sys.modules.setdefault("rfc3987_syntax", None)

# `python -m autograder ...` puts the current folder first on sys.path, so a file beside the student's notebook
# named like a module the checker imports (nbformat.py, torch/) would run in the checker's own process (red team,
# 2026-12-06). Once this package is imported (from the installed course, or a folder named autograder/ there, which
# nothing here can stop: the guides and check_notebook use `python -P`), nothing more is imported from that folder.
if _sys.argv[:1] == ["-m"] and not _sys.flags.safe_path and _sys.path:
    import os as _os

    if _sys.path[0] in ("", _os.getcwd()):
        del _sys.path[0]
