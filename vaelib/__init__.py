"""vaelib: the small library shared by the book's chapters, the exercises and the autograder.

One module per idea, each short enough to read in a chapter with ``literalinclude :pyobject:``.
Conventions used everywhere:

* a diagonal Gaussian q(z|x) = N(z | mu, diag(sigma^2)) is passed as ``mu`` and ``log_var`` = log(sigma^2);
  functions that take a standard deviation call it ``sigma`` and say so;
* tensors are batch-first: x is (batch, x_dim), z is (n_samples, batch, z_dim) when several samples are drawn;
* log-densities are summed over event dimensions and returned per data point, shape (batch,).
"""

from vaelib.device import get_device, to_device
from vaelib.runmode import fast_mode, steps

__all__ = ["get_device", "to_device", "fast_mode", "steps"]
__version__ = "1.0.0"
