"""Shared test setup: real data from ../shared/data, isolated user folders.

Tests run the real models on real images. The shared folder sits beside the
checkout (CI clones the repo with ../shared next to it); LIVEBG_SHARED_DATA
overrides where it is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

from clips import SHARED  # noqa: E402

if not SHARED.is_dir():
    raise pytest.UsageError(f"shared data not found at {SHARED}: clone the repo beside ../shared or set LIVEBG_SHARED_DATA")

# A shell that starts a command in the background without job control (`cmd &`
# in a script, nohup) ignores SIGINT in it, and an ignored signal is inherited
# through exec: every livebg the tests start would then ignore Ctrl-C, and the
# tests of what Ctrl-C does would fail for a reason outside livebg. A Python
# handler is reset to the default on exec, so the children see Ctrl-C again.
signal.signal(signal.SIGINT, signal.default_int_handler)

MODELS = SHARED / "models"
ARTIFACTS = ROOT / "artifacts"

# For fixtures wider than one test too (the per-test fixture below re-sets these):
# models from the shared folder, never the real user's cache or config.
os.environ["LIVEBG_MODEL_DIR"] = str(MODELS)
_SESSION_HOME = tempfile.mkdtemp(prefix="livebg-tests-")
os.environ["LIVEBG_CACHE_DIR"] = os.path.join(_SESSION_HOME, "cache")
os.environ["LIVEBG_CONFIG_DIR"] = os.path.join(_SESSION_HOME, "config")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """No test reads or writes the real user's cache or config."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("LIVEBG_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("LIVEBG_MODEL_DIR", str(MODELS))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def run_livebg(*args, env=None, timeout=300, cwd=None, prefix=()):
    """Run the installed `livebg` command as a user would; returns CompletedProcess.
    prefix: a command to run it under (e.g. setpriv with fewer privileges)."""
    e = dict(os.environ if env is None else env)
    e.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.run([*prefix, sys.executable, "-m", "livebg", *map(str, args)], capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=cwd)


def artifact_dir(name: str) -> Path:
    """A folder kept after the run for a human to look at (CI keeps artifacts/)."""
    d = ARTIFACTS / name
    d.mkdir(parents=True, exist_ok=True)
    return d
