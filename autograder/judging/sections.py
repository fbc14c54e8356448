"""Where in the book each judge sends the student: a :class:`Reading` names a section by its MyST label (the HTML
anchor of the built page) and its title as the book shows it. Feedback shows it as text and as a link
(tests/test_feedback_sections.py checks that every label exists in its chapter with this title)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def published_book_url(root: Path = REPOSITORY_ROOT) -> str | None:
    """Where the book is published, from _config.yml: ``html.baseurl`` when set, else the GitHub Pages site of
    ``repository.url`` (https://github.com/OWNER/REPO -> https://OWNER.github.io/REPO), the site Jupyter Book's
    ``ghp-import`` publishes and the launch buttons point next to. None when neither says."""
    import re

    try:
        import yaml

        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    except (OSError, ImportError, ValueError):
        return None
    baseurl = str((config.get("html") or {}).get("baseurl") or "").strip()
    if baseurl:
        return baseurl.rstrip("/")
    repository = str((config.get("repository") or {}).get("url") or "").strip().rstrip("/")
    match = re.fullmatch(r"https?://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?", repository)
    if not match:
        return None
    owner, name = match[1], match[2]
    if name.lower() == f"{owner.lower()}.github.io":  # a user or organisation site is served from the root
        return f"https://{name.lower()}"
    return f"https://{owner.lower()}.github.io/{name}"


def book_url(override: str | None = None) -> str:
    """Where feedback and the self-check link to: ``override`` (``--book-url``), else the environment variable
    VAE_BOOK_URL, else the published book (:func:`published_book_url`), else, when _config.yml names none, the
    local build of this repository (``_build/html``, made by ``make book``). No trailing slash. A local folder is
    dead for every student: :func:`local_link_warning` says so."""
    chosen = override or os.environ.get(BOOK_URL_VARIABLE) or published_book_url()
    if chosen:
        return chosen.rstrip("/")
    return (REPOSITORY_ROOT / "_build" / "html").as_uri()


def guide_url(book_url: str, document: str, label: str | None = None) -> str:
    """The address of a guide of the book's part "Using this course" (book/guide_*.md) under ``book_url``, at a
    section's label: guide_url(url, "guide_students", "guide-reading-feedback") for how to read feedback,
    "guide-check" for what `check` prints."""
    return f"{book_url}/book/{document}.html" + (f"#{label}" if label else "")


def local_link_warning(url: str) -> str | None:
    """A warning when links to ``url`` would open a folder on this machine (file://, a path) rather than a web
    page every student can reach; None for an http(s) address."""
    from urllib.parse import urlsplit

    if urlsplit(url).scheme in ("http", "https"):
        return None
    return (f"links to the book point to a local folder ({url}): students cannot open them. Pass --book-url "
            f"https://... (or set {BOOK_URL_VARIABLE}) with the published book's address")
