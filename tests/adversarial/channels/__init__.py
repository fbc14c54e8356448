"""Code for the isolation test: a submission that leaves a marker through every channel it can find (leaker.py)
and a submission graded after it, by the same zygote, that looks for the marker everywhere (searcher.py).
make_cases.py embeds both files into notebooks of the fixture assignment."""
