"""The course autograder: nbgrader underneath (cell metadata, generate_assignment, the SQLite gradebook),
with fast parallel execution, judging outside the student's code path and readable feedback.

Entry points: ``python -m autograder release|grade|check`` (see ``autograder/__main__.py``).
All comparisons (how an answer is judged) live in :mod:`autograder.checks`.
"""
