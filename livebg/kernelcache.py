"""Where numba keeps livebg's compiled kernels: the user's cache folder, never the package.

numba's ``cache=True`` writes beside the source by default, into
``site-packages/livebg/__pycache__``. pip does not know those files, so
``pip uninstall`` leaves the folder behind, and that empty ``livebg``
folder then shadows a later editable install as a namespace package
(``cannot import name '__version__' from 'livebg' (unknown location)``).
So every module with a cached kernel calls :func:`configure` before it
imports numba: the kernels go to ``<user cache dir>/livebg/numba``
(``$LIVEBG_CACHE_DIR/numba`` when that is set), beside the downloaded
models. A ``NUMBA_CACHE_DIR`` the user set wins.

Only the standard library (and platformdirs, for the folder) is imported here.
"""

from __future__ import annotations

import os
import sys
from livebg.files import cache_root

#: The modules whose kernels are compiled with ``cache=True``.
KERNEL_MODULES = ("livebg.compositing", "livebg.refine.guided_kernel", "livebg.foreground",
                  "livebg.refine.decontaminate", "livebg.refine.matte_kernel", "livebg.matting.rvm_kernel")


def configure() -> str:
    """Point numba's cache at livebg's cache folder, unless the user chose one
    (``NUMBA_CACHE_DIR``). Call before ``import numba`` in a kernel module;
    when numba is already imported, its config is set directly (numba reads
    it when a ``cache=True`` function is decorated). Returns the folder."""
    folder = os.environ.get("NUMBA_CACHE_DIR") or str(cache_root() / "numba")
    os.environ["NUMBA_CACHE_DIR"] = folder
    config = sys.modules.get("numba.core.config")
    if config is not None and getattr(config, "CACHE_DIR", None) != folder:
        config.CACHE_DIR = folder
    return folder


def _cached_dispatchers(module) -> list:
    return [v for v in vars(module).values()
            if hasattr(v, "py_func") and type(getattr(v, "_cache", None)).__name__ == "FunctionCache"]


def is_cold(modules: tuple[str, ...] = KERNEL_MODULES[:2]) -> bool:
    """True when a module of ``modules`` has none of its kernels usable in the
    cache (the first start, a new numba, or changed source): the first calls
    compile, which takes seconds. A module counts as warm as soon as one of
    its kernels is cached: some are compiled only when first used (a kernel
    for stills, a compositing variant), so "all of them" would never be true
    on a machine that runs only the live path. Imports the modules. False when
    it cannot tell."""
    import importlib

    try:
        for name in modules:
            dispatchers = _cached_dispatchers(importlib.import_module(name))
            if dispatchers and not any(d.signatures or d._cache._cache_file._load_index() for d in dispatchers):
                return True  # numba's own freshness check found nothing for any of them
    except Exception:  # numba's internals moved: say nothing rather than fail
        return False
    return False
