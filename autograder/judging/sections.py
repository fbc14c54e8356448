"""Where in the book each judge sends the student: a :class:`Reading` names a section by its MyST label (the HTML
anchor of the built page) and its title as the book shows it. Feedback shows it as text and as a link
(tests/test_feedback_sections.py checks that every label exists in its chapter with this title)."""

from __future__ import annotations

import os
from dataclasses import dataclass

# chapter number -> (document, title); the documents live in book/
CHAPTERS = {
    1: ("ch1_maximum_likelihood", "Probabilistic modelling and maximum likelihood"),
    2: ("ch2_latent_variable_models", "Latent-variable models"),
    3: ("ch3_autoencoders_pca", "Auto encoders and PCA"),
    4: ("ch4_variational_autoencoders", "Variational auto encoders"),
    5: ("ch5_elbo", "The ELBO"),
    6: ("ch6_reparameterization", "The reparameterization trick"),
}


@dataclass(frozen=True)
class Reading:
    label: str  # the section's MyST label, "ch<N>-..."
    title: str  # the section's heading as the book shows it

    @property
    def chapter(self) -> int:
        return int(self.label[2])

    @property
    def document(self) -> str:
        return CHAPTERS[self.chapter][0]

    def __str__(self) -> str:
        return f"Chapter {self.chapter} ({CHAPTERS[self.chapter][1]}), section '{self.title}'"

    def url(self, book_url: str) -> str:
        """The section's address in the built book under ``book_url`` (a folder or site root, no trailing /)."""
        return f"{book_url}/book/{self.document}.html#{self.label}"


def describe(readings: tuple[Reading, ...]) -> str:
    return "; ".join(str(r) for r in readings)


BOOK_URL_VARIABLE = "VAE_BOOK_URL"


def book_url(override: str | None = None) -> str:
    """Where feedback and the self-check link to: ``override`` (``--book-url``), else the environment variable
    VAE_BOOK_URL (e.g. the published book), else the local build of this repository (``_build/html``, made by
    ``make book``). No trailing slash."""
    from pathlib import Path

    chosen = override or os.environ.get(BOOK_URL_VARIABLE)
    if chosen:
        return chosen.rstrip("/")
    return (Path(__file__).resolve().parents[2] / "_build" / "html").as_uri()
