"""Model downloads that go wrong for real: the disk fills up (a small tmpfs),
the process is killed mid-transfer (SIGKILL), the user presses Ctrl-C.

Never a file under the final name unless it is whole and its sha256 is
right; a killed download's leftover is cleaned up by a later one, which
starts again from the beginning (nothing unverified is ever resumed).
The downloads are real, over HTTP from a local server or file:// URLs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import MODELS
from livebg import files, models
from livebg.errors import ModelError
from mounts import tmpfs

NAME = "mediapipe-selfie"  # the smallest model, about 250 kB


@pytest.fixture
def spec():
    s = models.get_spec(NAME)
    assert (MODELS / s.file).is_file()
    return s


def _parts(folder: Path):
    return sorted(folder.glob(".*.part-*")) if folder.exists() else []


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Sends the first half of the file at once, then the rest only when released."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        data = self.server.data
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.server.release.wait(60)
        try:
            self.wfile.write(data[len(data) // 2:])
        except OSError:
            pass


@pytest.fixture
def big(spec):
    """A model large enough to arrive in many chunks (reads are 256 kB): a manifest
    entry like the others, for a 3.7 MB ONNX file from the shared folder."""
    data = (MODELS / "prisma_nchw.onnx").read_bytes()
    return dataclasses.replace(spec, name="test-big-model", file="prisma_nchw.onnx", size=len(data),
                               sha256=hashlib.sha256(data).hexdigest())


@pytest.fixture
def slow_server(big):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    srv.daemon_threads = True
    srv.data = (MODELS / big.file).read_bytes()
    srv.release = threading.Event()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/{big.file}"
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def test_disk_full_during_download_leaves_nothing(spec, tmp_path):
    """A 128 kB file system cannot hold the 250 kB model: ENOSPC from the kernel."""
    with tmpfs(tmp_path / "small", size="128k") as small:
        dest = small / "models"
        url = (MODELS / spec.file).resolve().as_uri()
        with pytest.raises(ModelError) as e:
            models.download(dataclasses.replace(spec, urls=(url,)), dest, progress=False)
        msg = str(e.value)
        assert "No space left on device" in msg and "\n" not in msg
        assert not (dest / spec.file).exists()
        assert _parts(dest) == []  # the partial file was removed: the space is free again
        assert os.statvfs(small).f_bfree * os.statvfs(small).f_frsize > 100_000


def test_ctrl_c_mid_download_leaves_nothing(spec, tmp_path):
    data = (MODELS / spec.file).read_bytes()

    def chunks():
        yield data[:100_000]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        models._write_verified(spec, tmp_path, chunks())
    assert not (tmp_path / spec.file).exists() and _parts(tmp_path) == []


KILLED_DOWNLOAD = textwrap.dedent("""
    import dataclasses, sys
    from livebg import models
    spec = dataclasses.replace(models.get_spec("mediapipe-selfie"), name="test-big-model", file=sys.argv[1],
                               size=int(sys.argv[2]), sha256=sys.argv[3], urls=(sys.argv[4],))
    models.download(spec, sys.argv[5], progress=False)
""")


def test_download_killed_mid_transfer_then_a_new_attempt_starts_over(big, tmp_path, slow_server, monkeypatch):
    spec = big
    cache = tmp_path / "cache-root"
    dest = cache / "models"
    p = subprocess.Popen([sys.executable, "-c", KILLED_DOWNLOAD, spec.file, str(spec.size), spec.sha256, slow_server,
                          str(dest)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(part.stat().st_size >= 1_000_000 for part in _parts(dest)):
            assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "the download never got half-way"
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
    # Killed half-way: nothing under the final name; the half file is left (nothing can run on SIGKILL).
    assert not (dest / spec.file).exists()
    (left,) = _parts(dest)
    assert 1_000_000 <= left.stat().st_size <= spec.size // 2

    # A second attempt: the leftover is kept while it may still belong to a live download...
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(cache))
    monkeypatch.delenv("LIVEBG_MODEL_DIR", raising=False)
    good = dataclasses.replace(spec, urls=((MODELS / spec.file).resolve().as_uri(),))
    monkeypatch.setitem(models._manifest(), good.name, good)
    path = models.fetch(good.name, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert _parts(dest) == [left]
    # ... and removed once it is old enough that no download can still be writing it.
    path.unlink()
    old = time.time() - files.STALE_PART_AGE - 60
    os.utime(left, (old, old))
    path = models.fetch(good.name, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert _parts(dest) == []


def test_fetch_through_the_cli_checks_the_sha256_of_every_download(spec, tmp_path):
    """The bytes served are the right size but not the right file: refused."""
    bad = tmp_path / "served" / spec.file
    bad.parent.mkdir()
    data = bytearray((MODELS / spec.file).read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    script = textwrap.dedent(f"""
        import dataclasses, sys
        from livebg import cli, models
        models._manifest()[{NAME!r}] = dataclasses.replace(models.get_spec({NAME!r}), urls=({bad.as_uri()!r},))
        sys.exit(cli.main(["models", "fetch", {NAME!r}]))
    """)
    env = dict(os.environ, LIVEBG_CACHE_DIR=str(tmp_path / "cache-root"))
    env.pop("LIVEBG_MODEL_DIR", None)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("livebg: error:")]
    assert len(errors) == 1 and "wrong sha256" in errors[0] and spec.sha256 in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "cache-root" / "models" / spec.file).exists()
    assert _parts(tmp_path / "cache-root" / "models") == []
