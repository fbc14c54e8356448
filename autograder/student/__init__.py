"""The student's side of grading: the ONLY part of the autograder that is mounted in the grading sandbox.

What lives here runs in the same process as the student's code, so nothing here may decide a grade or know an
answer: drawing each check's cases from a seed (:mod:`.cases`), calling the student's functions on them and
turning what comes back into plain data (:mod:`.probes`, :mod:`.values`), running a notebook's cells
(:mod:`.cellrunner`), and the sandboxed process tree that runs one submission (:mod:`.zygote`, :mod:`.child`).
References, expected values and assessment live in :mod:`autograder.judging`, which is never mounted.
"""
