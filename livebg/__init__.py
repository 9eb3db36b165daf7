"""livebg: real-time webcam virtual background with matting, on your own machine."""

import os as _os

# livebg does no linear algebra, but NumPy (and SciPy, which numba loads) start
# a pool of OpenBLAS threads at import that spin on the CPU for a while: 0.35 s
# of CPU on every start here, taken from the threads doing the work. Before
# NumPy is first imported; a value the user set is kept.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
