"""Each chapter, downloaded as .ipynb from the built site, runs top to bottom in a fresh virtual environment made
only from what a student on Binder gets: binder/requirements.txt, then the chapter's own first cell, which
installs the course package (`pip install <repository>`, here a copy of this checkout through VAE_COURSE_SOURCE,
exactly as Colab does from GitHub). Fast mode (VAE_BOOK_FAST=1). Slow: building the venv takes minutes."""

import json
import re
import shutil
import subprocess
import time
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import CHAPTERS, ROOT

pytestmark = pytest.mark.slow
KERNEL = "vae-fresh-venv"


def binder_requirements(target: Path) -> Path:
    """binder/requirements.txt without its index option: the CPU wheel of torch lies on this machine's disk."""
    lines = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith(("--extra-index-url", "--index-url"))]
    assert any(line.startswith("torch==") for line in kept), "binder/requirements.txt does not pin torch"
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """(python of a new venv with binder/requirements.txt only, the JUPYTER_PATH holding its kernel, the course
    package's source to install, seconds it took)."""
    start = time.perf_counter()
    root = tmp_path_factory.mktemp("fresh")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    requirements = binder_requirements(root / "requirements.txt")
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
                            cwd=root, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"pip install -r binder/requirements.txt failed:\n{result.stderr[-4000:]}"
    probe = subprocess.run([str(python), "-c", "import vaelib"], cwd=root, capture_output=True, text=True)
    assert probe.returncode != 0, "vaelib is importable before any chapter installed it: the venv is not fresh"
    # the course package as it is published: pyproject.toml and its packages, nothing else
    source = root / "course"
    source.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", source)
    for package in ("vaelib", "autograder"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    kernel_dir = root / "jupyter" / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    env = {"VAE_BOOK_FAST": "1", "VAE_DEVICE": "cpu", "VAE_COURSE_SOURCE": str(source), "MPLBACKEND": "Agg"}
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh venv", "language": "python", "env": env}))
    return python, root / "jupyter", time.perf_counter() - start


def downloaded_notebook(built_book: Path, name: str) -> nbformat.NotebookNode:
    """The .ipynb behind the chapter page's download button."""
    page = (built_book / "book" / f"{name}.html").read_text(encoding="utf-8")
    links = re.findall(rf'href="([^"]*_sources/[^"]*{name}\.ipynb)"', page)
    assert links, f"{name}: no .ipynb download link on the page"
    return nbformat.read((built_book / "book" / links[0]).resolve(), as_version=4)


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_runs_in_a_fresh_venv(built_book, fresh_venv, name, tmp_path, monkeypatch, record_property):
    python, jupyter_path, venv_seconds = fresh_venv
    notebook = downloaded_notebook(built_book, name)
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "import vaelib" in first_code.source and "pip" in first_code.source, "the install cell is not first"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, vaelib\nprint('FRESH', sys.executable, vaelib.__file__)"))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    start = time.perf_counter()
    NotebookClient(notebook, kernel_name=KERNEL, timeout=900, allow_errors=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    record_property("venv_seconds", round(venv_seconds, 1))
    record_property("run_seconds", round(seconds, 1))
    print(f"{name}: ran in {seconds:.1f} s in the fresh venv (built in {venv_seconds:.1f} s)")
    # the kernel may split one print over several stream messages, or flush a late newline from an earlier cell
    # into this one: read the whole of stdout and take the line the probe wrote
    stdout = "".join(output.get("text", "") for output in notebook.cells[-1].outputs
                     if output.get("output_type") == "stream" and output.get("name") == "stdout")
    probe_lines = [line.split() for line in stdout.splitlines() if line.startswith("FRESH ")]
    assert probe_lines, f"the probe cell printed no FRESH line; its stdout was {stdout!r}"
    report = probe_lines[-1]
    env_dir = python.parent.parent
    assert report[0] == "FRESH" and Path(report[1]).parent.parent == env_dir, f"ran in {report[1]}, not {python}"
    assert Path(report[2]).is_relative_to(env_dir), f"vaelib came from {report[2]}, not the fresh venv"
