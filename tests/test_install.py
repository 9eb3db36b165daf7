"""Installing livebg the way the README says, for real, in a fresh virtual environment:
`pip install .`, use it (the numba kernels compile, once, saying so), `pip
uninstall`, then `pip install -e .` (the README's order: install and run, then
set up the tests).

numba's kernel cache used to be written into site-packages/livebg/__pycache__;
pip did not know those files, left the folder behind on uninstall, and the
empty folder then shadowed the editable install as a namespace package
(`cannot import name '__version__' from 'livebg' (unknown location)`).

To be quick and work offline, the fresh environment gets livebg's
dependencies from this test environment (a folder of links to its
site-packages, without livebg itself) and pip builds without isolation
(`--no-deps --no-build-isolation`); livebg itself is built, installed,
used and removed for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

from clips import person_frames, write_clip
from conftest import ROOT

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "artifacts", "__pycache__", "build", "dist", "*.egg-info",
                                     ".hypothesis", ".pytest_cache")


def _fresh_venv(tmp: Path) -> tuple[Path, Path]:
    """A new virtual environment whose only extra is a path to this environment's
    packages (minus livebg). Returns (its python, its site-packages)."""
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    deps = tmp / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.lower().startswith(("livebg", "__editable__")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (purelib / "livebg_test_deps.pth").write_text(f"{deps}\n")
    return python, purelib


def _run(*args, env, cwd, timeout=600):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _modules(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


def test_install_use_uninstall_then_editable_install(tmp_path):
    src = tmp_path / "checkout"
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE)
    python, site = _fresh_venv(tmp_path)
    bindir = python.parent
    work = tmp_path / "work"  # not the checkout: `livebg` must come from the environment
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH", "VIRTUAL_ENV")}
    env["LIVEBG_CACHE_DIR"] = str(tmp_path / "user-cache")
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    quick = ["--no-deps", "--no-build-isolation", "--no-index"]

    # 1. pip install . and use it: a video processed, so the kernels compile and are cached.
    _run(*pip, "install", *quick, src, env=env, cwd=work)
    installed = site / "livebg"
    assert _modules(installed) == _modules(src / "livebg"), "the installed package is missing modules (pyproject's packages)"
    clip = write_clip(work / "clip.mp4", person_frames(6, 320, 180)[0], fps=15)
    r = _run(bindir / "livebg", "process", clip, "-o", work / "out.mp4", env=env, cwd=work)
    assert (work / "out.mp4").stat().st_size > 0
    cached = list((tmp_path / "user-cache" / "numba").rglob("*.nbi"))
    assert cached, f"no kernel cache in the user's cache folder:\n{r.stderr}"
    in_package = [p for p in installed.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert not in_package, f"numba wrote into the installed package: {in_package[:3]}"
    # The first start says once why it pauses; the next one finds the kernels in the cache and says nothing.
    notice = "livebg: preparing the compositing kernels (first start only"
    assert r.stderr.count(notice) == 1, r.stderr
    r = _run(bindir / "livebg", "process", clip, "-o", work / "out2.mp4", env=env, cwd=work)
    assert notice not in r.stderr, r.stderr

    # 2. pip uninstall leaves nothing of livebg in site-packages.
    _run(*pip, "uninstall", "-y", "livebg", env=env, cwd=work)
    left = [p.name for p in site.iterdir() if p.name.lower().startswith("livebg") and p.suffix != ".pth"]
    assert not left, f"left behind after uninstall: {left}"

    # 3. The editable install (the README's test setup) works.
    _run(*pip, "install", *quick, "-e", src, env=env, cwd=work)
    r = _run(bindir / "livebg", "--version", env=env, cwd=work)
    assert r.stdout.strip().startswith("livebg ")
    r = _run(python, "-c", "import livebg.compositing as c; print(c.__file__)", env=env, cwd=work)
    assert Path(r.stdout.strip()).resolve() == (src / "livebg" / "compositing.py").resolve()
    r = _run(bindir / "livebg", "models", "list", env=env, cwd=work)
    assert "mediapipe-selfie-onnx" in r.stdout
