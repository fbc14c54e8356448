"""`make lab` (scripts/student_lab.sh): JupyterLab on copies of the exercises, from the course environment, without
nbgrader's instructor panels; the same JupyterLab without the script's configuration shows them (so the test can
tell), and a student's copy is never overwritten."""

import os
import re
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


def terminal_output(lab: Lab, command: str, cwd: str = "", timeout: float = 600) -> str:
    """Type ``command`` into a new JupyterLab terminal opened in the file browser's folder ``cwd`` (Jupyter's
    terminal API and its websocket, as JupyterLab does) and return what the terminal printed until it finished."""
    import asyncio
    import json
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{lab.port}/api/terminals", method="POST",
                                     data=json.dumps({"cwd": cwd}).encode(),
                                     headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        name = json.loads(response.read())["name"]

    async def talk() -> str:
        from tornado.websocket import websocket_connect

        socket = await websocket_connect(f"ws://127.0.0.1:{lab.port}/terminals/websocket/{name}?token={TOKEN}")
        await socket.write_message(json.dumps(["stdin", f"{command}; echo FINI''SHED-$?\r"]))  # echoed differently
        seen = ""
        deadline = asyncio.get_running_loop().time() + timeout
        while not re.search(r"FINISHED-\d", seen):
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"the terminal did not finish:\n{seen[-3000:]}"
            try:
                message = await asyncio.wait_for(socket.read_message(), min(left, 5))
            except TimeoutError:
                continue
            assert message is not None, f"the terminal closed:\n{seen[-3000:]}"
            kind, *payload = json.loads(message)
            if kind == "stdout":
                seen += payload[0]
        socket.close()
        return seen

    return asyncio.run(talk())


def test_the_readmes_check_command_works_in_the_labs_terminal(tmp_path):
    """Issue 19: in a JupyterLab terminal of `make lab` (a login shell there read /etc/profile, which reset PATH),
    `python -m autograder check ps1_likelihood/ps1_likelihood.ipynb` said `python: command not found`. Started
    with the PATH `make` gives it (no course environment on it), the terminal runs the course's python, in the file
    browser's top folder and inside the assignment's folder alike."""
    env = dict(environment(tmp_path), PATH="/usr/local/bin:/usr/bin:/bin")
    lab = Lab(["bash", str(ROOT / "scripts" / "student_lab.sh")], env, tmp_path / "lab.log")
    command = "python -m autograder check ps1_likelihood/ps1_likelihood.ipynb"
    try:
        outputs = [terminal_output(lab, command, cwd) for cwd in ("", "ps1_likelihood")]
    finally:
        lab.close()
    for out in outputs:
        assert "command not found" not in out, out
        assert "FAIL  test_gaussian_log_likelihood" in out and "not written yet" in out, out
        assert "FINISHED-1" in out, out  # check's exit code: some visible tests fail
