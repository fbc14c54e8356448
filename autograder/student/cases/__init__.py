"""One module per assignment, named like it (``ps3_elbo.py`` for solutions/ps3_elbo/): its checks' case drawers and
callers, registered in PROBES when the module is imported. Every module here except the shared helpers
(:data:`HELPER_MODULES`) is an assignment's and is imported below: a new one needs no import line (``python -m
autograder new`` writes it, with its partner in autograder/judging/)."""

import importlib
import pkgutil

HELPER_MODULES = frozenset({"common"})
ASSIGNMENT_MODULES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)
                                  if module.name not in HELPER_MODULES and not module.name.startswith("_")))

for _name in ASSIGNMENT_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
