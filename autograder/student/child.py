"""The process that runs ONE submission's notebook (inside its own isolation domain when sandboxed).

It reads the job (cells, master seed, limits) from its job socket, runs the cells in the zygote's pre-made IPython
shell with the grading context installed, and writes one JSON line per cell back on the same socket as soon as the
cell ends, then ``{"done": true}``. Everything it writes is untrusted by the reader (autograder.boundary).
"""

from __future__ import annotations

import json
import os
import shutil
import socket

MAX_JOB_BYTES = 80 * 1024 * 1024  # the job (the assembled notebook's code) as the grader sends it
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # one cell's message; larger ones lose their records here (and are refused
# by the reader anyway)
DONE = b'{"done": true}\n'
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg"}


def read_job(job: socket.socket) -> dict:
    buffer = bytearray()
    while not buffer.endswith(b"\n"):
        chunk = job.recv(1 << 20)
        if not chunk:
            raise EOFError("the grader closed the job socket before sending the job")
        buffer.extend(chunk)
        if len(buffer) > MAX_JOB_BYTES:
            raise ValueError("job too large")
    return json.loads(buffer)


def prepare_workdir(files_dir: str | None, root: str) -> str:
    """A private working directory holding the release's data files (never the student's other files)."""
    workdir = os.path.join(root, "work")
    os.makedirs(workdir, exist_ok=True)
    if files_dir and os.path.isdir(files_dir):
        for name in os.listdir(files_dir):
            source = os.path.join(files_dir, name)
            if name.endswith(".ipynb") or name.startswith("."):
                continue
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(workdir, name))
            else:
                shutil.copy2(source, os.path.join(workdir, name))
    return workdir


def reset_environment(root: str, threads: int, device: str = "cpu") -> None:
    """Only what a notebook needs; nothing that mentions grading. HOME and the caches are under ``root``.
    ``device`` becomes VAE_DEVICE (vaelib.get_device); with a GPU, the sandbox's CUDA_VISIBLE_DEVICES stays."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")  # set by the grader's bwrap command, never by a submission
    os.environ.clear()
    os.environ.update(ENVIRONMENT, HOME=os.path.join(root, "home"), TMPDIR=root,
                      IPYTHONDIR=os.path.join(root, ".ipython"), MPLCONFIGDIR=os.path.join(root, ".matplotlib"),
                      OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), VAE_DEVICE=device)
    if visible is not None and device != "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
    for name in ("HOME", "IPYTHONDIR", "MPLCONFIGDIR"):
        os.makedirs(os.environ[name], exist_ok=True)
    from .zygote import copy_font_list

    copy_font_list()  # a notebook that plots imports matplotlib without scanning every font first


def run_submission(job_socket: socket.socket, shell, root: str) -> int:
    """Run the job arriving on ``job_socket`` with ``root`` as its private writable folder. Returns an exit code."""
    job = read_job(job_socket)
    threads = max(1, int(job.get("threads", 1)))
    reset_environment(root, threads, str(job.get("device") or "cpu"))
    os.chdir(prepare_workdir(job.get("files_dir"), root))
    import torch

    torch.set_num_threads(threads)
    from .cellrunner import run_cells
    from .probes import GradingContext, set_grading_context

    context = GradingContext(int(job["master_seed"]))
    set_grading_context(context)

    def emit(message: dict) -> None:
        line = json.dumps(message, allow_nan=True)
        if len(line) > MAX_MESSAGE_BYTES:
            message["records"] = []
            message["dropped"] = f"the values returned in this cell were too large to grade ({len(line)} bytes)"
            line = json.dumps(message, allow_nan=True)
        job_socket.sendall(line.encode("utf-8", "surrogatepass") + b"\n")

    run_cells(shell, job["cells"], float(job["cell_timeout_s"]), emit, context=context)
    job_socket.sendall(DONE)
    return 0
