"""Code similarity of a class's submissions (``python -m autograder similarity``, ``grade --similarity``).

extract.py: each student's own code (answer cells, the released template removed); engine.py: the comparison by
copydetect (fingerprints in child processes, fingerprints.py); report.py: similarity.csv, students.csv and
report.html; command.py: the command itself. A screening aid: nothing here changes a grade.
"""
