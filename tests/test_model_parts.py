"""Models published in parts (IMG.LY's IS-Net): the manifest format, and real
downloads of real files cut into parts, including every way they go wrong.

The parts are served over HTTP by a local server (or as file:// URLs) from
the shared model files cut into pieces: a corrupt part, a missing part, a
connection cut mid-part, a stalled part and Ctrl-C, a full disk (a small
tmpfs), a killed process. Each ends in a verified file or a one-line
error, with nothing under the final name unless it is whole and right, and
verified parts kept so that the next attempt resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import MODELS, run_livebg
from livebg import files, models
from livebg.errors import ModelError
from mounts import tmpfs

ISNET = "imgly-isnet"
RESOURCES = MODELS / "imgly-background-removal-data-1.4.5-resources.json"
SMALL_FILE = "prisma_nchw.onnx"  # 3.7 MB: cut into 1 MB parts for the fault tests


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(tmp_path / "cache-root"))
    monkeypatch.delenv("LIVEBG_MODEL_DIR", raising=False)


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part-*")) if folder.exists() else []


def cut(data: bytes, piece: int) -> list[bytes]:
    return [data[i:i + piece] for i in range(0, len(data), piece)]


def write_parts(pieces: list[bytes], folder: Path) -> list[models.Part]:
    """Each piece as a file named by its sha256 (as IMG.LY's CDN serves them)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for piece in pieces:
        digest = hashlib.sha256(piece).hexdigest()
        (folder / digest).write_bytes(piece)
        parts.append(models.Part(digest, len(piece)))
    return parts


class _PartHandler(http.server.BaseHTTPRequestHandler):
    """GET /<sha256> serves that part; server.faults[sha256] makes it misbehave:
    "wrong" (same length, other bytes), "missing" (404), "cut" (half, then hang up),
    "stall" (half, then wait for server.release)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up (a cut or interrupted download): what these tests do

    def _serve(self):
        name = self.path.rsplit("/", 1)[-1]
        self.server.hits.append(name)
        path = self.server.root / name
        fault = self.server.faults.get(name)
        if fault == "missing" or not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "wrong":
            data = bytes(b ^ 0x5A for b in data[:64]) + data[64:]
        if fault in ("cut", "stall"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if fault == "stall":
                self.server.release.wait(60)
            self.close_connection = True
            return
        self.wfile.write(data)


@dataclasses.dataclass
class PartServer:
    root: Path
    httpd: http.server.ThreadingHTTPServer

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/dist/{{sha256}}"

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    @property
    def faults(self) -> dict[str, str]:
        return self.httpd.faults


@pytest.fixture
def part_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PartHandler)
    httpd.daemon_threads = True
    httpd.root, httpd.hits, httpd.faults, httpd.release = root, [], {}, threading.Event()
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield PartServer(root, httpd)
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def small(part_server):
    """A manifest entry like IMG.LY's for a 3.7 MB shared model cut into 1 MB parts (4 parts)."""
    data = (MODELS / SMALL_FILE).read_bytes()
    parts = write_parts(cut(data, 1 << 20), part_server.root)
    assert len(parts) == 4
    return dataclasses.replace(models.get_spec(ISNET), name="test-parts", file=SMALL_FILE, size=len(data),
                               sha256=hashlib.sha256(data).hexdigest(), urls=(), parts=tuple(parts),
                               part_urls=(part_server.template,))


def _installed(monkeypatch, spec):
    monkeypatch.setitem(models._manifest(), spec.name, spec)
    return spec


# ---------------------------------------------------------------- the manifest


def test_isnet_entry_is_the_packages_chunks_of_the_shared_file():
    """The manifest's parts are IMG.LY's chunk list, in order, and each is exactly
    that byte range of the shared (joined) file."""
    spec = models.get_spec(ISNET)
    assert spec.kind == "onnx-isnet" and spec.licence == "AGPL-3.0" and spec.urls == ()
    assert spec.input_size == (1024, 1024) and not spec.dynamic
    assert spec.part_urls == ("https://staticimgly.com/@imgly/background-removal-data/1.4.5/dist/{sha256}",)
    chunks = json.loads(RESOURCES.read_text())["/models/medium"]
    assert [p.sha256 for p in spec.parts] == [c["hash"] for c in chunks["chunks"]]
    assert spec.size == chunks["size"] == sum(p.size for p in spec.parts)
    data = (MODELS / spec.file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec.sha256
    for part, chunk in zip(spec.parts, chunks["chunks"]):
        start, end = chunk["offsets"]
        assert part.size == end - start
        assert hashlib.sha256(data[start:end]).hexdigest() == part.sha256


def _entry(**change):
    table = {
        "description": "d", "file": "x.onnx", "size": 10, "sha256": "a" * 64, "licence": "MIT",
        "kind": "onnx-isnet", "urls": [], "input": "i", "input_size": [1024, 1024], "ref_size": 0,
        "part_urls": ["https://example.invalid/{sha256}"],
        "parts": [{"sha256": "b" * 64, "size": 4}, {"sha256": "c" * 64, "size": 6}],
    }
    table.update(change)
    return {k: v for k, v in table.items() if v is not None}


def test_parts_are_parsed_and_checked():
    spec = models._parse_entry("m", _entry(), "manifest.toml")
    assert spec.parts == (models.Part("b" * 64, 4), models.Part("c" * 64, 6))
    assert spec.parts[0].url(spec.part_urls[0]) == "https://example.invalid/" + "b" * 64
    bad = {
        "parts and part_urls go together": _entry(part_urls=None),
        "each with {sha256} once": _entry(part_urls=["https://example.invalid/dist/"]),
        "add up to 9 bytes, but size is 10": _entry(parts=[{"sha256": "b" * 64, "size": 4},
                                                           {"sha256": "c" * 64, "size": 5}]),
        "part 2: sha256 must be": _entry(parts=[{"sha256": "b" * 64, "size": 4}, {"sha256": "C" * 64, "size": 6}]),
        "part 1 must be a table": _entry(parts=[[1, 2]]),
        "part 1: size must be a positive": _entry(parts=[{"sha256": "b" * 64, "size": 0}]),
        "parts must not be empty": _entry(parts=[]),
        "not empty unless the model has parts": _entry(parts=None, part_urls=None),
        "field 'parts' has the wrong type": _entry(parts="x"),
    }
    for message, table in bad.items():
        with pytest.raises(ModelError) as err:
            models._parse_entry("m", table, "manifest.toml")
        assert message in str(err.value) and "model 'm'" in str(err.value), (message, str(err.value))


# ---------------------------------------------------------------- downloads


def test_the_real_model_downloads_in_its_22_parts(tmp_path, part_server, monkeypatch, capsys):
    """The shared IS-Net file cut at IMG.LY's offsets, served by part sha256: fetched,
    joined, verified; the parts folder is gone afterwards; one line per step."""
    spec = models.get_spec(ISNET)
    data = (MODELS / spec.file).read_bytes()
    offsets = [c["offsets"] for c in json.loads(RESOURCES.read_text())["/models/medium"]["chunks"]]
    parts = write_parts([data[a:b] for a, b in offsets], part_server.root)
    assert tuple(parts) == spec.parts
    spec = _installed(monkeypatch, dataclasses.replace(spec, part_urls=(part_server.template,)))
    path = models.fetch(ISNET)
    assert path == models.cache_dir() / spec.file
    assert models.file_sha256(path) == spec.sha256
    assert sorted(part_server.hits) == sorted(p.sha256 for p in spec.parts)
    assert not models.parts_dir().exists() and _temporaries(path.parent) == []
    err = capsys.readouterr().err
    assert "in 22 parts, weights under AGPL-3.0" in err and "22 parts joined; the whole file verified" in err
    assert models.list_rows()[-1]["present"] and models.list_rows()[-1]["licence"] == "AGPL-3.0"


def test_parts_from_file_urls(tmp_path, small):
    served = tmp_path / "served"
    spec = dataclasses.replace(small, part_urls=(served.resolve().as_uri() + "/{sha256}",))
    path = models.download(spec, tmp_path / "dest", progress=False)
    assert models.file_sha256(path) == spec.sha256


def test_a_corrupt_part_is_refused_then_the_download_resumes(tmp_path, small, part_server, monkeypatch):
    spec = _installed(monkeypatch, small)
    third = spec.parts[2].sha256
    part_server.faults[third] = "wrong"
    with pytest.raises(ModelError) as err:
        models.fetch(spec.name, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "part 3 of 4 failed" in msg and "wrong sha256" in msg and third in msg
    assert "2 of 4 verified parts are kept" in msg
    final = models.cache_dir() / spec.file
    assert not final.exists() and _temporaries(final.parent) == []
    pool = models.parts_dir()
    assert sorted(p.name for p in pool.iterdir()) == sorted(p.sha256 for p in spec.parts[:2])

    # Served right now: only the parts not yet here are fetched.
    del part_server.faults[third]
    part_server.hits.clear()
    path = models.fetch(spec.name, progress=False)
    assert models.file_sha256(path) == spec.sha256
    assert part_server.hits == [p.sha256 for p in spec.parts[2:]]
    assert not pool.exists()


def test_a_missing_part_is_a_clear_error_and_another_address_is_tried(tmp_path, small, part_server, monkeypatch):
    spec = small
    part_server.faults[spec.parts[1].sha256] = "missing"
    with pytest.raises(ModelError) as err:
        models.download(spec, tmp_path / "dest", progress=False)
    msg = str(err.value)
    assert "part 2 of 4 failed" in msg and "HTTP 404" in msg and spec.parts[1].sha256 in msg and "\n" not in msg
    assert not (tmp_path / "dest" / spec.file).exists()
    # A second address that has the part: used for it, the first still for the others.
    mirror = (tmp_path / "served").resolve().as_uri() + "/{sha256}"
    both = dataclasses.replace(spec, part_urls=(part_server.template, mirror))
    part_server.hits.clear()
    path = models.download(both, tmp_path / "dest", progress=False)
    assert models.file_sha256(path) == spec.sha256
    assert part_server.hits == [p.sha256 for p in spec.parts[1:]]  # part 1 was kept, part 2 asked and refused


def test_a_connection_cut_mid_part_then_resume(tmp_path, small, part_server):
    spec = small
    part_server.faults[spec.parts[3].sha256] = "cut"
    with pytest.raises(ModelError) as err:
        models.download(spec, tmp_path / "dest", progress=False)
    assert "part 4 of 4 failed" in str(err.value) and "3 of 4 verified parts are kept" in str(err.value)
    assert not (tmp_path / "dest" / spec.file).exists()
    assert _temporaries(models.parts_dir(tmp_path / "dest")) == []
    part_server.faults.clear()
    part_server.hits.clear()
    models.download(spec, tmp_path / "dest", progress=False)
    assert part_server.hits == [spec.parts[3].sha256]


def test_a_wrong_whole_file_is_refused_although_every_part_is_right(tmp_path, small):
    wrong = dataclasses.replace(small, sha256="0" * 64)
    with pytest.raises(ModelError, match="wrong sha256 .* expected 0{64}"):
        models.download(wrong, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest" / small.file).exists() and _temporaries(tmp_path / "dest") == []


def test_a_part_replaced_on_disk_is_fetched_again(tmp_path, small, part_server):
    """A part in the parts folder that is not what its name says (a disk error, a
    hand edit) is never joined: it is removed and fetched again."""
    pool = models.parts_dir(tmp_path / "dest")
    pool.mkdir(parents=True)
    (pool / small.parts[0].sha256).write_bytes(b"\0" * small.parts[0].size)
    models.download(small, tmp_path / "dest", progress=False)
    assert part_server.hits == [p.sha256 for p in small.parts]


FETCH_SCRIPT = textwrap.dedent("""
    import dataclasses, json, sys
    from livebg import cli, models
    spec = models.get_spec("imgly-isnet")
    args = json.loads(sys.argv[1])
    models._manifest()["test-parts"] = dataclasses.replace(
        spec, name="test-parts", file=args["file"], size=args["size"], sha256=args["sha256"],
        parts=tuple(models.Part(d, n) for d, n in args["parts"]), part_urls=(args["template"],))
    sys.exit(cli.main(["models", "fetch", "test-parts"]))
""")


def _fetch_process(spec, env):
    args = json.dumps({"file": spec.file, "size": spec.size, "sha256": spec.sha256,
                       "parts": [[p.sha256, p.size] for p in spec.parts], "template": spec.part_urls[0]})
    return subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_half_a_part(pool: Path, proc, size: int, before: list):
    """Until the parts ``before`` are in place and another is half-way (the stalled one)."""
    deadline = time.monotonic() + 60
    while not (all((pool / p.sha256).is_file() for p in before)
               and any(t.stat().st_size >= size // 2 for t in _temporaries(pool))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the download never got half-way through a part"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_interrupted_mid_part_then_resumed(tmp_path, small, part_server, monkeypatch, how):
    """A real `livebg models fetch` stopped while part 3 arrives: Ctrl-C (SIGINT) ends
    in one line and exit 130 with no temporary file; a kill leaves one, which nothing
    ever joins. Either way the next fetch fetches only parts 3 and 4."""
    spec = small
    part_server.faults[spec.parts[2].sha256] = "stall"
    env = dict(os.environ, LIVEBG_CACHE_DIR=str(tmp_path / "cache-root"))
    pool = models.parts_dir()
    proc = _fetch_process(spec, env)
    try:
        _wait_for_half_a_part(pool, proc, spec.parts[2].size, list(spec.parts[:2]))
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    final = models.cache_dir() / spec.file
    assert not final.exists()
    kept = sorted(p.name for p in pool.iterdir() if not p.name.startswith("."))
    assert kept == sorted(p.sha256 for p in spec.parts[:2])
    if how == "ctrl-c":
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "livebg: interrupted", err
        assert "Traceback" not in err and _temporaries(pool) == []
    else:
        assert len(_temporaries(pool)) == 1  # SIGKILL: nothing can run; a later download clears it when stale
    part_server.faults.clear()
    part_server.hits.clear()
    _installed(monkeypatch, spec)
    path = models.fetch(spec.name, progress=False)
    assert models.file_sha256(path) == spec.sha256
    assert part_server.hits == [p.sha256 for p in spec.parts[2:]]


def test_not_enough_space_is_said_before_downloading(tmp_path, small, part_server):
    with tmpfs(tmp_path / "small", size="4m") as disk:
        with pytest.raises(ModelError) as err:
            models.download(small, disk / "models", progress=False)
        msg = str(err.value)
        assert "not enough free space" in msg and "needs 7.5 MB" in msg and "\n" not in msg
        assert part_server.hits == []


def test_disk_full_mid_part_and_mid_join(tmp_path, small, part_server, monkeypatch):
    """The space check is fooled (another program filled the disk meanwhile): the
    kernel's ENOSPC ends the download in one line, nothing half-written anywhere."""
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(1 << 40, 0, 1 << 40))
    with tmpfs(tmp_path / "small", size="2500k") as disk:
        dest = disk / "models"
        with pytest.raises(ModelError) as err:
            models.download(small, dest, progress=False)
        msg = str(err.value)
        assert "No space left on device" in msg and "\n" not in msg, msg
        assert not (dest / small.file).exists()
        pool = models.parts_dir(dest)
        assert _temporaries(pool) == [] and _temporaries(dest) == []
        assert all(models._part_ok(p, next(q for q in small.parts if q.sha256 == p.name)) for p in pool.iterdir())
    # Room for all four parts (3.7 MB), not for the joined file too: the join fails, the parts stay.
    with tmpfs(tmp_path / "medium", size="5m") as disk:
        dest = disk / "models"
        with pytest.raises(ModelError, match="No space left on device") as err:
            models.download(small, dest, progress=False)
        assert not (dest / small.file).exists() and _temporaries(dest) == []
        assert len(list(models.parts_dir(dest).iterdir())) == 4


def test_a_stale_temporary_part_is_cleared(tmp_path, small):
    pool = models.parts_dir(tmp_path / "dest")
    pool.mkdir(parents=True)
    left = pool / f".{small.parts[0].sha256}.part-dead01"
    left.write_bytes(b"half")
    old = time.time() - files.STALE_PART_AGE - 60
    os.utime(left, (old, old))
    models.download(small, tmp_path / "dest", progress=False)
    assert not left.exists()


# ---------------------------------------------------------------- import


def test_import_a_folder_of_parts(tmp_path, small, monkeypatch):
    """What an offline user has after unpacking IMG.LY's npm package: the parts, by sha256."""
    spec = _installed(monkeypatch, small)
    folder = tmp_path / "served"
    (folder / "resources.json").write_text("{}")  # other files are ignored
    partial = tmp_path / "some"
    partial.mkdir()
    shutil.copyfile(folder / spec.parts[0].sha256, partial / spec.parts[0].sha256)
    with pytest.raises(ModelError, match=r"1 of 4 parts of test-parts are now in .*fetch test-parts. downloads the other 3"):
        models.import_file(partial)
    got, path = models.import_file(folder)
    assert got == spec and path == models.cache_dir() / spec.file
    assert models.file_sha256(path) == spec.sha256 and not models.parts_dir().exists()
    with pytest.raises(ModelError, match="holds no part of a known model"):
        models.import_file(tmp_path / "cache-root")


def test_import_refuses_a_file_named_as_a_part_that_is_not_it(tmp_path, small, monkeypatch):
    spec = _installed(monkeypatch, small)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / spec.parts[1].sha256).write_bytes(b"\1" * spec.parts[1].size)
    with pytest.raises(ModelError, match="is named as a part of test-parts but is not that part: wrong sha256"):
        models.import_file(folder)
    assert _temporaries(models.parts_dir()) == []


def test_cli_imports_the_real_parts_and_lists_the_model(tmp_path):
    spec = models.get_spec(ISNET)
    data = (MODELS / spec.file).read_bytes()
    folder = tmp_path / "dist"
    offsets = [c["offsets"] for c in json.loads(RESOURCES.read_text())["/models/medium"]["chunks"]]
    write_parts([data[a:b] for a, b in offsets], folder)
    env = dict(os.environ, LIVEBG_CACHE_DIR=str(tmp_path / "cache-root"))
    env.pop("LIVEBG_MODEL_DIR", None)
    r = run_livebg("models", "list", env=env)
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith(ISNET))
    assert "AGPL-3.0" in row and " no " in row
    r = run_livebg("models", "import", folder, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"imported {ISNET}: {tmp_path / 'cache-root' / 'models' / spec.file}"
    r = run_livebg("models", "verify", env=env)
    assert any(ln.startswith(ISNET) and " ok " in ln for ln in r.stdout.splitlines()), r.stdout
    r = run_livebg("models", "import", tmp_path / "nothing-here", env=env)
    assert r.returncode == 1 and r.stderr.strip().startswith("livebg: error: model file not found")
