"""Sphinx extension: what the book's pages need beyond Jupyter Book's defaults.

- The repository URL is one setting, `repository.url` in _config.yml (Jupyter Book passes it on as
  `html_theme_options["repository_url"]`). Pages quote it through the MyST substitutions `{{ repository_url }}` and
  `{{ repository_link }}`, derived here, so it is never typed twice.
- Exercise notebooks are shipped with the site: `build-finished` copies `exercises/<id>/<id>.ipynb` into the HTML
  output under the same path, and every page listed in the `exercise_notebooks` setting (page -> problem sets) gets
  a paragraph at the end of its "exercises" section that links to the shipped notebook (a relative URL). There is
  no Colab link: the exercises import the autograder's checks, whose dependencies Colab lacks. A listed page
  without such a section, or a problem set without its notebook, is a build warning (an error in the strict
  build), so the links cannot silently disappear when a chapter is rewritten.
"""

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)
EXERCISES_DIR = "exercises"


def repository_url(config) -> str:
    """The repository URL without a trailing slash, as Jupyter Book hands it to the theme."""
    return str((config.html_theme_options or {}).get("repository_url", "")).rstrip("/")


def exercise_path(exercise_id: str) -> str:
    """Where a problem set's notebook lies, relative to the repository root and to the HTML root alike."""
    return f"{EXERCISES_DIR}/{exercise_id}/{exercise_id}.ipynb"


def add_repository_substitutions(app: Sphinx, config) -> None:
    url = repository_url(config)
    if not url:
        logger.warning("book_site: repository.url is not set in _config.yml")
        return
    substitutions = dict(config.myst_substitutions or {})
    substitutions.setdefault("repository_url", url)
    substitutions.setdefault("repository_link", f"[{url.removeprefix('https://')}]({url})")
    config.myst_substitutions = substitutions


def _exercises_section(doctree: nodes.document) -> nodes.section | None:
    for section in doctree.findall(nodes.section):
        title = section.next_node(nodes.title)
        if title is not None and "exercises" in title.astext().lower():
            return section
    return None


def add_exercise_links(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    exercise_ids = app.config.exercise_notebooks.get(docname)
    if not exercise_ids or app.builder.format != "html":
        return
    section = _exercises_section(doctree)
    if section is None:
        logger.warning(f"book_site: {docname} has no section whose title mentions 'exercises' for the links to "
                       f"{', '.join(exercise_ids)}", location=docname)
        return
    page_uri = app.builder.get_target_uri(docname)
    paragraph = nodes.paragraph(classes=["exercise-links"])
    paragraph += nodes.strong(text="Exercise notebooks: " if len(exercise_ids) > 1 else "Exercise notebook: ")
    for index, exercise_id in enumerate(exercise_ids):
        if not (Path(app.srcdir) / exercise_path(exercise_id)).is_file():
            logger.warning(f"book_site: {exercise_path(exercise_id)} does not exist", location=docname)
            continue
        if index:
            paragraph += nodes.Text("; ")
        paragraph += nodes.reference("", f"{exercise_id}.ipynb", internal=False,
                                     refuri=relative_uri(page_uri, exercise_path(exercise_id)),
                                     classes=["exercise-download"])
    paragraph += nodes.Text(" (download it and run it where the course library is installed, as the "
                            "exercises' own instructions say).")
    section += paragraph


def copy_exercise_notebooks(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    shipped = sorted({exercise_id for ids in app.config.exercise_notebooks.values() for exercise_id in ids})
    for exercise_id in shipped:
        source = Path(app.srcdir) / exercise_path(exercise_id)
        if source.is_file():
            target = Path(app.outdir) / exercise_path(exercise_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def setup(app: Sphinx):
    app.add_config_value("exercise_notebooks", {}, "env", types=[dict])
    app.connect("config-inited", add_repository_substitutions)
    app.connect("doctree-resolved", add_exercise_links)
    app.connect("build-finished", copy_exercise_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
