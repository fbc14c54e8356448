"""`check` trusts nothing it runs (issue 17): a notebook passed around by a classmate, checked with the README's
command, tries to rewrite the student's other work, plant an IPython startup file in their HOME and patch the
checker's scoring (in its own process, and in the installed source). Under every protection `check` can use here
(the grading sandbox as root, bubblewrap in a user's own namespace when not root, Landlock) nothing changes and
the blank notebook it rides on fails every visible test.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.grading_cli import COURSE, EXERCISE, ROOT

SCORING = ROOT / "autograder" / "scoring.py"

ATTACK = '''import os
for path, text in {targets!r}.items():
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as handle:
            handle.write(text)
        print("WROTE", path)
    except OSError as error:
        print("refused", path, error.strerror)
import autograder.scoring  # the child's own copy: whatever it patches stays in the child
autograder.scoring.score_test_cells = lambda cells, *a, **k: []
'''


def hostile_notebook(tmp_path: Path) -> tuple[Path, dict[str, str], dict[Path, bytes]]:
    """A blank fx_kl notebook with the attack as its first cell, in my-work/fx_kl/ beside another notebook of the
    student's; returns (the notebook, the attack's targets, the bytes each target holds before)."""
    work = tmp_path / "my-work"
    other = work / "ps1" / "ps1_likelihood.ipynb"
    other.parent.mkdir(parents=True)
    other.write_text('{"the student": "work"}')
    notebook = work / "fx_kl" / "fx_kl.ipynb"
    notebook.parent.mkdir(parents=True)
    home = tmp_path / "home"
    targets = {str(home / ".ipython" / "profile_default" / "startup" / "00-evil.py"): "print('planted')\n",
               str(other): "overwritten", str(notebook): "overwritten",
               str(SCORING): "\n# patched by a notebook under check\n"}
    document = json.loads(EXERCISE.read_text())
    document["cells"].insert(0, {"cell_type": "code", "execution_count": None, "id": "attack", "metadata": {},
                                 "outputs": [], "source": ATTACK.format(targets=targets)})
    notebook.write_text(json.dumps(document))
    before = {Path(p): Path(p).read_bytes() for p in targets if Path(p).exists()}
    return notebook, targets, before


def assert_nothing_changed(targets: dict[str, str], before: dict[Path, bytes], output: str) -> None:
    try:
        changed = [p for p in targets if Path(p).exists() and Path(p).read_bytes() != before.get(Path(p))]
        planted = [p for p in targets if Path(p).exists() and Path(p) not in before]
        assert not changed and not planted, f"changed {changed}, planted {planted}:\n{output}"
    finally:
        if SCORING in before:
            SCORING.write_bytes(before[SCORING])  # never leave the repository patched, even when the test fails
    assert "WROTE" not in output
    assert "FAIL  test_gaussian_kl" in output and "PASS " not in output, output


def test_the_grading_sandbox_protects_the_students_files_and_the_checker(tmp_path):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    notebook, targets, before = hostile_notebook(tmp_path)
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook), "--course-root", str(COURSE)],
                          capture_output=True, text=True, timeout=900, cwd=notebook.parent,
                          env=dict(os.environ, HOME=str(tmp_path / "home")))
    assert "in the grading sandbox (bubblewrap)" in done.stdout, done.stdout + done.stderr
    assert_nothing_changed(targets, before, done.stdout + done.stderr)


def test_bubblewrap_as_an_ordinary_user_protects_them_too(tmp_path):
    """Not root (a student's laptop): bubblewrap in the user's own user namespace (no uid of its own, no cgroup)."""
    if shutil.which("bwrap") is None or os.geteuid() != 0:
        pytest.skip("needs bubblewrap, and root to become another user for the test")
    nobody = pwd.getpwnam("nobody")
    usable = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                             sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', "
                             "'import torch'], check=True)"], capture_output=True, cwd="/")
    if usable.returncode != 0:  # e.g. a venv whose Python lives in root's home folder (mode 0700)
        pytest.skip("the course's Python cannot be run by another user on this machine")
    base = Path(tempfile.mkdtemp(prefix="autograder-check-nobody-"))  # pytest's folders are root's alone
    try:
        base.chmod(0o755)
        notebook, targets, before = hostile_notebook(base)
        for path in (base, *base.rglob("*")):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        env = dict(os.environ, HOME=str(base / "home"), AUTOGRADER_CACHE_DIR=str(base / "cache"),
                   MPLCONFIGDIR=str(base / "mpl"))
        done = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                               sys.executable, "-m", "autograder", "check", str(notebook), "--course-root",
                               str(COURSE)], capture_output=True, text=True, timeout=900, cwd=notebook.parent, env=env)
        assert "in the grading sandbox (bubblewrap)" in done.stdout, done.stdout + done.stderr
        assert_nothing_changed(targets, before, done.stdout + done.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)


REACH = """import os, socket, time
# red team (issue 17): reach out of the process (a local server's port: Jupyter's, to run code outside), write to
# a terminal, and leave a process behind that tries both again after check has ended
def reach(tag):
    try:
        with socket.create_connection(("127.0.0.1", {port}), timeout=2) as connection:
            connection.sendall(tag.encode())
    except OSError:
        pass
    try:
        with open({terminal!r}, "w") as terminal:
            terminal.write("PASS  forged by " + tag + "\\n")
    except OSError:
        pass
reach("cell")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        reach("survivor")
    os._exit(0)
"""


@pytest.mark.parametrize("protection", ["namespaces", "landlock"])
def test_without_bubblewrap_nothing_of_theirs_changes_and_nothing_reaches_out(tmp_path, monkeypatch, protection):
    """Where bubblewrap is missing, check uses the sandbox's namespaces with Landlock, else Landlock alone: the
    notebook writes none of the student's files, reaches no local TCP server (the red team started kernels through
    a Jupyter server's API that way), writes to no terminal, and leaves no process behind."""
    import select
    import socket
    import time

    from autograder import check_sandbox
    from autograder.selfcheck import self_check
    from autograder.student.isolation import landlock_version

    if landlock_version() < 4 or (protection == "namespaces" and not check_sandbox.user_namespaces()):
        pytest.skip(f"this kernel cannot give the {protection} protection with Landlock's network rules")
    monkeypatch.setattr(check_sandbox, "protections", lambda: [protection])
    notebook, targets, before = hostile_notebook(tmp_path)
    server = socket.create_server(("127.0.0.1", 0))
    controller, terminal = os.openpty()
    document = json.loads(notebook.read_text())
    document["cells"].insert(1, {"cell_type": "code", "execution_count": None, "id": "reach", "metadata": {},
                                 "outputs": [], "source": REACH.format(port=server.getsockname()[1],
                                                                       terminal=os.ttyname(terminal))})
    notebook.write_text(json.dumps(document))
    before[notebook] = notebook.read_bytes()
    out = io.StringIO()
    self_check(notebook, COURSE, out=out)
    assert check_sandbox.PROTECTION[protection][:40] in out.getvalue(), out.getvalue()
    assert_nothing_changed(targets, before, out.getvalue())
    time.sleep(6)  # the survivor's turn, had it survived
    server.setblocking(False)
    assert not select.select([server], [], [], 0)[0], "a connection reached the local server"
    assert not select.select([controller], [], [], 0)[0], "something was written to the terminal"
    server.close()
    os.close(controller)
    os.close(terminal)


def test_without_any_protection_check_says_so(tmp_path, monkeypatch):
    from autograder import check_sandbox
    from autograder.selfcheck import self_check

    monkeypatch.setattr(check_sandbox, "protections", lambda: ["none"])
    out = io.StringIO()
    self_check(EXERCISE, COURSE, out=out)
    assert "WARNING: neither bubblewrap nor Landlock works here" in out.getvalue(), out.getvalue()
    assert "FAIL  test_gaussian_kl" in out.getvalue()


def test_a_module_beside_the_notebook_never_runs_in_the_checker(tmp_path):
    """Red team (issue 17): `python -m autograder check` from the notebook's folder put that folder first on
    sys.path, so an nbformat.py handed over with the notebook ran in the checker's own process."""
    folder = tmp_path / "ps1"
    folder.mkdir()
    shutil.copy(ROOT / "exercises" / "ps1_likelihood" / "ps1_likelihood.ipynb", folder)
    (folder / "nbformat.py").write_text(f"open({str(tmp_path / 'RAN')!r}, 'w').write('x')\nraise SystemExit(9)\n")
    done = subprocess.run([sys.executable, "-m", "autograder", "check", "ps1_likelihood.ipynb"], cwd=folder,
                          capture_output=True, text=True, timeout=900)
    assert not (tmp_path / "RAN").exists(), done.stdout + done.stderr
    assert "visible test cells passed" in done.stdout, done.stdout + done.stderr
