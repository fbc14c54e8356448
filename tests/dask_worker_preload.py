"""Loaded into test Dask workers with `dask worker --preload tests/dask_worker_preload.py` (Dask's own hook for code
a worker runs at start). It stands in for what a test cannot have on this machine:

* AUTOGRADER_TEST_FAKE_GPU=1: the node reports one NVIDIA device node that does not exist. The sandbox binds
  device nodes with --dev-bind-try, which skips an absent one, so the zygote starts as on a GPU node and the
  notebook gets VAE_DEVICE=cuda (torch still sees no CUDA device).
* AUTOGRADER_TEST_NO_JUDGE=1: the node's judge server ends as soon as it starts (as one whose imports fail would),
  so the grader must judge this node's submissions itself.
* a submission whose student id starts with "killer" kills the worker process that runs it (SIGKILL), as a node
  that dies under it would; Dask then runs it elsewhere until allowed-failures turns it into KilledWorker.
"""

import os
import signal

from autograder import distributed, sandbox

if os.environ.get("AUTOGRADER_TEST_FAKE_GPU"):
    sandbox.gpu_device_nodes = lambda: ["/dev/nvidia-absent-in-this-test"]

if os.environ.get("AUTOGRADER_TEST_NO_JUDGE") and not getattr(distributed.JudgePool, "dies_at_once", False):
    class JudgePoolThatDies(distributed.JudgePool):
        dies_at_once = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.server.kill()

    distributed.JudgePool = JudgePoolThatDies

# Dask may import a preload twice: wrap the original function, never our own wrapper
original = getattr(distributed, "original_run_on_node", distributed.run_on_node)
distributed.original_run_on_node = original


def run_on_node(job, *args):
    if str(job.get("job", "")).startswith("killer"):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(job, *args)


distributed.run_on_node = run_on_node
