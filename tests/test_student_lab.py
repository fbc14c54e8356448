"""`make lab` (scripts/student_lab.sh): JupyterLab on copies of the exercises, from the course environment, without
nbgrader's instructor panels; the same JupyterLab without the script's configuration shows them (so the test can
tell), and a student's copy is never overwritten."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_cli import ROOT
from tests.test_formgrader import TOKEN, free_port

pytestmark = pytest.mark.slow


class Lab:
    def __init__(self, command: list[str], env: dict, log: Path):
        import time
        import urllib.request

        self.port = free_port()
        self.log = open(log, "w")  # noqa: SIM115
        extra = [f"--port={self.port}", "--no-browser", "--ServerApp.ip=127.0.0.1",
                 f"--IdentityProvider.token={TOKEN}", *(["--allow-root"] if os.geteuid() == 0 else [])]
        self.process = subprocess.Popen(command + extra, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.urlopen = urllib.request.urlopen
        deadline = time.monotonic() + 180
        while self.status("/api/status") != 200:
            assert self.process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)

    def status(self, path: str) -> int:
        import urllib.error

        try:
            with self.urlopen(f"http://127.0.0.1:{self.port}{path}?token={TOKEN}", timeout=60) as response:
                self.body = response.read().decode()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def environment(tmp_path: Path) -> dict:
    return dict(os.environ, VAE_WORK_DIR=str(tmp_path / "my-work"), JUPYTER_PLATFORM_DIRS="1",
                JUPYTER_CONFIG_DIR=str(tmp_path / "user-config"))  # an empty ~/.jupyter of the student's


def test_make_lab_hides_the_instructor_panels(tmp_path):
    kept = tmp_path / "my-work" / "ps3_elbo"
    kept.mkdir(parents=True)
    (kept / "ps3_elbo.ipynb").write_text("my unfinished work")
    lab = Lab(["bash", str(ROOT / "scripts" / "student_lab.sh")], environment(tmp_path), tmp_path / "lab.log")
    try:
        assert lab.status("/lab") == 200
        assert '"disabledExtensions": ["@jupyter/nbgrader"]' in lab.body.replace("\n", "")
        assert lab.status("/formgrader") == 404 and lab.status("/formgrader/api/assignments") == 404
        assert lab.status("/assignments") == 404  # nbgrader's student assignment list is off too
    finally:
        lab.close()
    assert (kept / "ps3_elbo.ipynb").read_text() == "my unfinished work"  # never overwritten
    released = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    assert sorted(p.name for p in (tmp_path / "my-work").iterdir()) == released
    assert "python -m autograder check" in (tmp_path / "lab.log").read_text()


def test_the_same_lab_without_the_course_configuration_shows_them(tmp_path):
    lab = Lab([sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={tmp_path}"], environment(tmp_path),
              tmp_path / "lab.log")
    try:
        assert lab.status("/lab") == 200
        assert "@jupyter/nbgrader" not in lab.body.split('"disabledExtensions"')[1][:200]
        assert lab.status("/formgrader") in (200, 302)
    finally:
        lab.close()
