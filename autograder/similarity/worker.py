"""Child process of autograder.similarity.engine: copydetect's work on a share of the class.

Started with a fixed PYTHONHASHSEED (copydetect hashes k-grams with ``hash()``), it reads one pickled job from stdin,
``{"template", "texts": {key: code}, "noise", "window"}``, and writes one pickle to stdout: ``{"made": {key:
engine.Prints}, "failed": {key: reason}}``. A text that takes longer than PER_TEXT_S is given up (its student is
listed as not compared, the others go on).

Student code is only tokenized here (Pygments), never run.
"""

from __future__ import annotations

import io
import pickle
import signal
import sys
import types

PER_TEXT_S = 30.0


class _OutOfTime(Exception):
    pass


def _alarm(signum, frame):
    raise _OutOfTime


def fingerprint(job: dict) -> dict:
    # copydetect imports matplotlib.pyplot for its own HTML report, which is not used here: a stand-in module saves
    # each child about half a CPU-second of start-up
    sys.modules.setdefault("matplotlib.pyplot", types.ModuleType("matplotlib.pyplot"))
    import numpy as np
    from copydetect import CodeFingerprint

    from .engine import Prints

    template = CodeFingerprint("template.py", job["noise"], 1, fp=io.StringIO(job["template"]), language="python")
    boilerplate = np.unique(np.array(sorted(template.hashes), dtype=np.int64))
    made, failed = {}, {}
    signal.signal(signal.SIGALRM, _alarm)
    for key, text in job["texts"].items():
        signal.setitimer(signal.ITIMER_REAL, PER_TEXT_S)
        try:
            made[key] = Prints.of(CodeFingerprint("student.py", job["noise"], job["window"], boilerplate,
                                                  language="python", fp=io.StringIO(text)))
        except _OutOfTime:
            failed[key] = f"copydetect could not fingerprint the code within {PER_TEXT_S:.0f} s"
        except Exception as error:  # noqa: BLE001 - one student's code never stops the others
            failed[key] = f"copydetect could not fingerprint the code ({type(error).__name__}: {error})"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return {"made": made, "failed": failed}


def main() -> int:
    job = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(fingerprint(job)))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
