"""Per-assignment grading settings: time limits and titles. The notebooks themselves live in solutions/<id>/."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssignmentConfig:
    cell_timeout_s: float = 60.0  # CPU seconds for one cell (a test cell may set its own: metadata
    # autograder.cpu_limit_s); the cell fails, later cells still run; a wall-clock cap of 5x stops a cell that sleeps
    notebook_timeout_s: float = 600.0  # CPU seconds for the whole notebook; status "timeout", results so far count
    title: str = ""


ASSIGNMENTS: dict[str, AssignmentConfig] = {
    # The solutions run in 5-30 s on one core; the limits (CPU time, which a busy machine does not use up) leave room
    # for slower correct code, not for loops that never end. ps4's training is promised 40 s of CPU time in the
    # notebook (its cell limit is 60 s); ps4's estimator test cells have limits of their own (300 and 600 s, in the
    # notebook's metadata) so that a correct estimator written as a loop over samples passes.
    "ps1_likelihood": AssignmentConfig(cell_timeout_s=30.0, notebook_timeout_s=180.0,
                                       title="Problem set 1: likelihood, log-sum-exp and the marginal likelihood"),
    "ps2_autoencoders": AssignmentConfig(cell_timeout_s=60.0, notebook_timeout_s=240.0,
                                         title="Problem set 2: auto encoders and PCA"),
    "ps3_elbo": AssignmentConfig(cell_timeout_s=60.0, notebook_timeout_s=240.0,
                                 title="Problem set 3: the evidence lower bound"),
    "ps4_gradients": AssignmentConfig(cell_timeout_s=60.0, notebook_timeout_s=1200.0,
                                      title="Problem set 4: gradients of expectations, and training a VAE"),
}

DEFAULT_CONFIG = AssignmentConfig()


def config_for(assignment_id: str) -> AssignmentConfig:
    """The settings of an assignment (defaults for one not listed, e.g. a test fixture)."""
    return ASSIGNMENTS.get(assignment_id, DEFAULT_CONFIG)
