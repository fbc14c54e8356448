"""The usual disguises of a copied answer, each applied to one cell's code (every result still parses).

* rename: every name the student's code binds (variables, loop variables, helper functions and their parameters)
  renamed; the graded functions' names and parameters are kept (the stub gives them, the tests call them);
* comments: every comment removed and others written in their place;
* spacing: spaces around operators and commas toggled, indentation halved, blank lines between statements;
* dead_code: an unused helper function and, in every function, unused statements and a branch that never runs;
* reorder: the functions of a cell in reverse order (the cells of the notebook are also reordered, in cases.py).
"""

from __future__ import annotations

import ast
import builtins
import io
import itertools
import random
import tokenize

SYNONYMS = {"mu": "mean_vec", "log_var": "logvariance", "x": "data", "z": "latent", "eps": "noise", "W": "weights",
            "b": "offset", "noise_std": "sig", "k": "latent_dim", "d": "obs_dim", "kl": "divergence", "var": "variance",
            "std": "sd", "cov": "covmat", "L": "chol", "S": "post_cov", "m": "post_mean", "r": "residual",
            "n_samples": "num_draws", "logits": "scores", "encoder": "enc", "decoder": "dec", "q": "approx",
            "p": "prior_dist", "mu0": "m_a", "mu1": "m_b", "cov0": "c_a", "cov1": "c_b", "q_mean": "qm",
            "q_cov": "qc", "log_w": "logweights", "log_q": "lq", "log_prior": "lp", "sigma": "scale"}
GRADED = {"gaussian_kl", "bernoulli_log_likelihood", "elbo", "lg_log_marginal", "lg_posterior", "gaussian_kl_full",
          "lg_elbo", "iwae_bound"}


def _bound_names(tree: ast.AST) -> set[str]:
    imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    bound, signatures = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in GRADED:  # the stub's signature is kept
            signatures.update(a.arg for a in node.args.args + node.args.kwonlyargs)
        if isinstance(node, ast.FunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return bound - imported - signatures - GRADED - set(dir(builtins)) - {"_"}


def _column(line: str, byte_offset: int) -> int:
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", "replace"))


def rename(code: str) -> str:
    tree = ast.parse(code)
    bound = sorted(_bound_names(tree))
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(bound)
    mapping = {}
    for name in bound:
        new = SYNONYMS.get(name) or f"my_{name.strip('_')}"
        for suffix in itertools.count(2):
            if new not in taken:
                break
            new = f"{SYNONYMS.get(name) or 'my_' + name.strip('_')}{suffix}"
        mapping[name] = new
        taken.add(new)
    lines = code.split("\n")
    edits = []  # (line index, column, old, new)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            edits.append((node.lineno - 1, node.col_offset, node.id))
        elif isinstance(node, ast.arg) and node.arg in mapping:
            edits.append((node.lineno - 1, node.col_offset, node.arg))
        elif isinstance(node, ast.FunctionDef) and node.name in mapping:
            line = lines[node.lineno - 1]
            start = line.encode().index(b"def ", node.col_offset) + 4
            edits.append((node.lineno - 1, start, node.name))
    for index, offset, old in sorted(edits, reverse=True):
        line = lines[index]
        column = _column(line, offset)
        assert line[column:column + len(old)] == old, (line, old)
        lines[index] = line[:column] + mapping[old] + line[column + len(old):]
    return "\n".join(lines)


NEW_COMMENTS = ("# work it out step by step", "# as derived in the lecture", "# shapes checked by hand",
                "# this part took a while", "# numerically stable version", "# see the notes, section 5")


def _statement_lines(tree: ast.AST) -> list[int]:
    """Line numbers of statements inside function bodies (docstrings excluded)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            found += [statement.lineno for statement in body]
    return sorted(set(found))


def comments(code: str) -> str:
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    lines = code.split("\n")
    drop_lines = set()
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, column = token.start
            line = lines[row - 1]
            if line[:column].strip():
                lines[row - 1] = line[:column].rstrip()
            else:
                drop_lines.add(row - 1)
    statements = _statement_lines(ast.parse(code))
    for count, row in enumerate(reversed(statements)):
        if count % 2 == 0:
            line = lines[row - 1]
            indent = line[:len(line) - len(line.lstrip())]
            lines.insert(row - 1, indent + NEW_COMMENTS[count // 2 % len(NEW_COMMENTS)])
            drop_lines = {d + 1 if d >= row - 1 else d for d in drop_lines}
    return "\n".join(line for index, line in enumerate(lines) if index not in drop_lines)


FLIP = {"=", "+", "-", "*", "/", "//", "@", "**", "==", "!=", "<", ">", "<=", ">=", "+=", "-=", "*=", "/=", ","}


def spacing(code: str) -> str:
    out: list[str] = []
    previous = None
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type in (tokenize.ENCODING, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            continue
        if token.type in (tokenize.NEWLINE, tokenize.NL):
            if token.type == tokenize.NL and not token.line.strip():
                continue  # an existing blank line: removed
            out.append("\n" + ("\n" if token.type == tokenize.NEWLINE and depth == 0 else ""))
            previous = None
            continue
        if previous is None or token.start[0] != previous.end[0]:
            out.append(" " * (token.start[1] // 2))
        else:
            gap = token.start[1] - previous.end[1]
            if token.string in FLIP or previous.string in FLIP:
                gap = 0 if gap else 1
            out.append(" " * gap)
        out.append(token.string)
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        previous = token
    return "".join(out).rstrip("\n") + "\n"


DEAD_HELPERS = ("""def _{name}({a}):
    return {a} * {c1} + {c2}
""", """def _{name}({a}, {b}={c1}):
    if {b} > {c2}:
        return None
    return {a}
""", """def _{name}(*{a}):
    return len({a}) == {c1}
""", """def _{name}({a}):
    try:
        return float({a}) / {c1}
    except TypeError:
        return {c2}
""")
DEAD_STATEMENTS = (["{v} = {c1}", "if {v} > {c3}:", "    print('{word}', {v})"],
                   ["{v} = [{c1}, {c2}]", "for {w} in range({c2}, {c2}):", "    {v}.append({w})"],
                   ["{v} = torch.zeros({c1}).sum() * {c2}"],
                   ["{v} = None", "if {v} is not None:", "    raise RuntimeError('{word}')"],
                   ["{v} = '{word}'.upper()"])
WORDS = ("debug", "check", "here", "unreachable", "todo", "shape", "value", "tmp")
NAMES = ("helper", "check", "aux", "util", "tmp", "debug", "scratch", "spare")


def _fill(template: str, rng: random.Random) -> str:
    c1, c2 = rng.randint(2, 49), rng.randint(2, 49)
    return template.format(name=f"{rng.choice(NAMES)}_{rng.randint(1, 99)}", a=rng.choice("abcuvw") + "_in",
                           b=rng.choice("pqrs") + "_opt", v=f"{rng.choice(NAMES)}_{rng.randint(1, 99)}",
                           w=rng.choice("ijkn"), c1=c1, c2=c2, c3=c1 + rng.randint(1, 50), word=rng.choice(WORDS))


def dead_code(code: str, rng: random.Random) -> str:
    """An unused helper above the cell's code and, in every function, a few unused statements; each drawn from
    ``rng`` (its numbers and names too), so two copiers never add the same dead code."""
    tree = ast.parse(code)
    lines = code.split("\n")
    inserts = []  # (line index to insert before, lines)
    for node in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        body = node.body[1:] if ast.get_docstring(node) is not None else node.body
        if not body:
            continue
        anchor = body[min(1, len(body) - 1)]
        line = lines[anchor.lineno - 1]
        indent = line[:len(line) - len(line.lstrip())]
        block = _fill("\n".join(rng.choice(DEAD_STATEMENTS)), rng).split("\n")
        inserts.append((anchor.lineno - 1, [indent + statement for statement in block]))
    for index, block in sorted(inserts, reverse=True):
        lines[index:index] = block
    return _fill(rng.choice(DEAD_HELPERS), rng) + "\n\n" + "\n".join(lines)


def reorder(code: str) -> str:
    """The cell's top-level functions in reverse order (other statements stay first)."""
    tree = ast.parse(code)
    lines = code.rstrip("\n").split("\n")
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if len(functions) < 2:
        return code
    chunks, others, taken = [], [], set()
    for node in functions:
        first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        chunks.append(lines[first:node.end_lineno])
        taken.update(range(first, node.end_lineno))
    others = [line for index, line in enumerate(lines) if index not in taken and line.strip()]
    parts = ["\n".join(others)] if others else []
    parts += ["\n".join(chunk) for chunk in reversed(chunks)]
    return "\n\n\n".join(parts) + "\n"


def everything(code: str, rng: random.Random) -> str:
    return spacing(comments(rename(dead_code(reorder(code), rng))))


DISGUISES = {"rename": lambda code, rng: rename(code), "comments": lambda code, rng: comments(code),
             "spacing": lambda code, rng: spacing(code), "dead_code": dead_code,
             "reorder": lambda code, rng: reorder(code), "all": everything}
