"""Hand marking in nbgrader's own formgrader: the real Jupyter server with nbgrader's server extension, started
headless in the output folder of `grade`; the pages and API calls formgrader's browser code makes."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.adversarial.make_output_cases import MARKER
from tests.grading_cli import EXERCISE, ROOT, SOLUTION, autograder, grade, put, read_rows

pytestmark = pytest.mark.slow
TOKEN = "formgrader-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, folder: Path):
        self.port = free_port()
        bin_dir = str(Path(sys.executable).parent)
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", JUPYTER_PLATFORM_DIRS="1")
        command = [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={self.port}",
                   "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log = open(folder.parent / "server.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(command, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            try:
                self.get("/api/status")
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, \
                    (folder.parent / "server.log").read_text()[-3000:]
                time.sleep(0.5)

    def request(self, path: str, method: str = "GET", body: dict | None = None) -> tuple[int, str]:
        separator = "&" if "?" in path else "?"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}{separator}token={TOKEN}",
                                         method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def get(self, path: str) -> str:
        status, text = self.request(path)
        assert status == 200, (path, status, text[:500])
        return text

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def formgrader(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formgrader")
    put(tmp / "subs", "ann", SOLUTION.read_text())
    put(tmp / "subs", "bob", EXERCISE.read_text())
    shutil.copytree(ROOT / "tests/adversarial/outputs/formgrader_xss", tmp / "subs" / "mallory")
    grade(tmp / "subs", tmp / "out", "--workers", 2)
    server = Server(tmp / "out")
    try:
        yield server, tmp / "out"
    finally:
        server.close()


def submissions(server: Server) -> dict[str, dict]:
    return {s["student"]: s for s in json.loads(server.get("/formgrader/api/submitted_notebooks/fx_kl/fx_kl"))}


def test_formgrader_lists_the_assignment_and_every_autograded_submission(formgrader):
    server, out = formgrader
    assignments = json.loads(server.get("/formgrader/api/assignments"))
    assert [(a["name"], a["max_score"], a["num_submissions"]) for a in assignments] == [("fx_kl", 7.0, 3)]
    listed = submissions(server)
    assert set(listed) == {"ann", "bob", "mallory"}
    assert listed["ann"]["score"] == 5.0 and listed["ann"]["needs_manual_grade"]
    students = json.loads(server.get("/formgrader/api/submissions/fx_kl"))
    assert {s["student"]: s["autograded"] for s in students} == {"ann": True, "bob": True, "mallory": True}


def test_the_written_answer_is_readable_and_markable(formgrader):
    server, out = formgrader
    submission = submissions(server)["ann"]
    page = server.get(f"/formgrader/submissions/{submission['id']}/")
    assert "Jensen&#39;s inequality applied to -log gives KL &gt;= 0" in page or \
        "Jensen's inequality applied to -log gives KL &gt;= 0" in page
    grades = {g["name"]: g for g in json.loads(server.get(f"/formgrader/api/grades?submission_id={submission['id']}"))}
    assert grades["derivation"]["needs_manual_grade"] and grades["derivation"]["max_score"] == 2.0
    status, text = server.request(f"/formgrader/api/grade/{grades['derivation']['id']}", "PUT",
                                  {"manual_score": 1.5, "extra_credit": None})
    assert status == 200, text
    status, _ = server.request(f"/formgrader/api/comment/{grades['derivation']['id']}", "PUT",
                               {"manual_comment": "Nearly."})
    exported = autograder("export", "--assignment", "fx_kl", "--output", out)
    assert exported.returncode == 0, exported.stderr
    row = read_rows(out / "grades.csv")["ann"]
    assert (row["score"], row["manual"], row["manual_pending"]) == ("6.5", "1.5", "1")


class LiveMarkup(HTMLParser):
    """What a browser would act on: elements, their attributes, the text of scripts."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.scripts, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_student_markup_cannot_run_in_the_instructors_formgrader(formgrader):
    """The written answer's <script>, onerror and javascript: link, a raw cell and a Markdown cell of the student's
    reach the page only as text."""
    server, _ = formgrader
    submission = submissions(server)["mallory"]
    page = server.get(f"/formgrader/submissions/{submission['id']}/")
    assert f"{MARKER}-answer" in page and f"{MARKER}-own" in page and f"{MARKER}-raw" in page  # shown...
    live = LiveMarkup()
    live.feed(page)
    assert not [s for s in live.scripts if MARKER in s]  # ...never live
    assert not [a for a in live.attributes if a[1].startswith("on") and MARKER in a[2]]
    assert not [a for a in live.attributes if a[1] in ("href", "src") and a[2].strip().lower().startswith(
        ("javascript:", "data:text"))]
    assert "iframe" not in live.tags
    assert "&lt;script&gt;alert(" in page
    assert "$a&lt;b$" in page  # the math survives, for MathJax
