"""Tests for livebg.models: manifest facts, lookup order, downloads.

Downloads are real: a local ThreadingHTTPServer serves copies of the small
model files from the shared data folder, plus a few misbehaving routes
(wrong bytes, a connection cut mid-file, a stalled reply, extra bytes).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import os
import shutil
import threading
import urllib.request
from pathlib import Path

import pytest

from livebg import models
from livebg.errors import ModelError

SMALL = "mediapipe-selfie"  # the smallest model file (about 250 kB)


def _shared_data() -> Path:
    env = os.environ.get("LIVEBG_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


SHARED_MODELS = _shared_data() / "models"


def _shared_file(name: str) -> Path:
    path = SHARED_MODELS / name
    assert path.is_file(), f"shared test data missing: {path}"
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part-*")) if folder.exists() else []


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point the cache at tmp and unset LIVEBG_MODEL_DIR."""
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(tmp_path / "cache-root"))
    monkeypatch.delenv("LIVEBG_MODEL_DIR", raising=False)
    return tmp_path


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache-root" / "models"


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "model-dir"
    folder.mkdir()
    monkeypatch.setenv("LIVEBG_MODEL_DIR", str(folder))
    return folder


@pytest.fixture
def spec() -> models.ModelSpec:
    spec = models.get_spec(SMALL)
    _shared_file(spec.file)
    return spec


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; /truncated/, /wrong/, /oversize/, /stall/ misbehave."""

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    def do_GET(self):
        self.server.hits.append(self.path)
        route, _, rest = self.path.lstrip("/").partition("/")
        rest = rest.split("?", 1)[0]
        if route not in ("truncated", "wrong", "oversize", "stall"):
            return super().do_GET()
        if route == "stall":
            self.server.release.wait(10)
            return None
        data = (Path(self.directory) / rest).read_bytes()
        self.send_response(200)
        if route == "truncated":
            # Promise the whole file, send half, then hang up.
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
        elif route == "wrong":
            # Same length, different bytes.
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(bytes(b ^ 0xFF for b in data[:64]) + data[64:])
        else:
            # No Content-Length, more bytes than the file.
            self.end_headers()
            self.wfile.write(data + b"\0" * 4096)
        self.wfile.flush()
        self.close_connection = True
        return None


class _Server:
    def __init__(self, root: Path):
        self.root = root
        handler = functools.partial(_Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.hits = []
        self.httpd.release = threading.Event()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def close(self):
        self.httpd.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over a folder holding copies of the shared models."""
    root = tmp_path / "served"
    root.mkdir()
    if SHARED_MODELS.is_dir():
        for f in SHARED_MODELS.iterdir():
            if f.is_file() and f.stat().st_size < 5_000_000:
                shutil.copyfile(f, root / f.name)
    srv = _Server(root)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def local_manifest(monkeypatch, server):
    """Point every manifest entry's URL at the local server (restored after)."""
    table = models._manifest()
    for name, entry in list(table.items()):
        monkeypatch.setitem(
            table, name, dataclasses.replace(entry, urls=(f"{server.url}/{entry.file}",))
        )
    return table


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to open a URL."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected network access: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------- manifest


def test_manifest_parses_with_expected_models():
    specs = models.load_manifest()
    assert list(specs) == [
        "rvm",
        "modnet",
        "mediapipe-selfie",
        "mediapipe-selfie-landscape",
        "mediapipe-selfie-onnx",
        "imgly-isnet",
    ]
    for name, spec in specs.items():
        assert spec.name == name
        # RVM's weights are GPL-3.0; IMG.LY's are AGPL-3.0 and published only in parts
        # (tests/test_model_parts.py).
        assert spec.licence == {"rvm": "GPL-3.0", "imgly-isnet": "AGPL-3.0"}.get(name, "Apache-2.0")
        assert (spec.urls or spec.parts) and all(u.startswith("https://") for u in spec.urls + spec.part_urls)
        assert spec.description and spec.input
        assert "/" not in spec.file
    rvm = specs["rvm"]  # the official v1.0.0 release file
    assert (rvm.size, rvm.kind) == (14975696, "onnx-rvm") and rvm.dynamic
    assert rvm.sha256 == "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
    assert rvm.urls[0].startswith("https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/")
    modnet = specs["modnet"]
    assert modnet.size == 25888640
    assert modnet.sha256 == "07c308cf0fc7e6e8b2065a12ed7fc07e1de8febb7dc7839d7b7f15dd66584df9"
    assert modnet.kind == "onnx-modnet" and modnet.dynamic and modnet.ref_size == 512
    assert specs["mediapipe-selfie"].input_size == (256, 256)
    assert specs["mediapipe-selfie-landscape"].input_size == (144, 256)
    assert specs["mediapipe-selfie-onnx"].kind == "onnx-selfie"


def test_every_manifest_kind_has_a_runner_that_reads_what_the_manifest_gives():
    """The manifest gives a runner only what differs between files of its kind
    (a fixed input size, or a default size for a resizable one); the runner of
    every kind exists and declares whether it is resizable."""
    import inspect

    from livebg.matting.base import KINDS, runner

    for spec in models.load_manifest().values():
        cls = runner(spec.kind)
        params = inspect.signature(cls.__init__).parameters
        if spec.dynamic:
            assert cls.caps.resizable and "ref_size" in params, spec.name
        else:
            assert not cls.caps.resizable, spec.name
    assert set(KINDS) >= {s.kind for s in models.load_manifest().values()}


def test_load_manifest_returns_a_copy():
    first = models.load_manifest()
    first.clear()
    assert models.load_manifest()


def test_manifest_facts_match_shared_files():
    checked = []
    for spec in models.load_manifest().values():
        path = SHARED_MODELS / spec.file
        if not path.is_file():
            continue
        assert path.stat().st_size == spec.size, spec.name
        assert _sha256(path) == spec.sha256, spec.name
        assert models.identify(path) == spec
        checked.append(spec.name)
    assert {"mediapipe-selfie", "mediapipe-selfie-landscape", "mediapipe-selfie-onnx"} <= set(
        checked
    )


def test_unknown_name_lists_known_models():
    with pytest.raises(ModelError) as err:
        models.resolve("no-such-model")
    msg = str(err.value)
    assert "no-such-model" in msg
    for name in models.load_manifest():
        assert name in msg
    with pytest.raises(ModelError, match="known models"):
        models.find_present("no-such-model")


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(tmp_path / "x"))
    assert models.cache_dir() == tmp_path / "x" / "models"
    monkeypatch.delenv("LIVEBG_CACHE_DIR")
    assert models.cache_dir().name == "models"
    assert "livebg" in str(models.cache_dir())


# ---------------------------------------------------------------- lookup order


def test_resolution_order(spec, tmp_path, cache, model_dir, server, local_manifest):
    src = _shared_file(spec.file)

    # Nothing local: downloaded from the (local) manifest URL into the cache.
    found_spec, path = models.resolve(spec.name, progress=False)
    assert found_spec == local_manifest[spec.name]
    assert path == cache / spec.file
    assert _sha256(path) == spec.sha256
    assert len(server.hits) == 1

    # Now the cache copy is used, no second download.
    assert models.resolve(spec.name)[1] == cache / spec.file
    assert len(server.hits) == 1

    # LIVEBG_MODEL_DIR beats the cache.
    shutil.copyfile(src, model_dir / spec.file)
    assert models.resolve(spec.name)[1] == model_dir / spec.file

    # An explicit path beats everything, and is identified by its sha256.
    own = tmp_path / "elsewhere" / "my-model.tflite"
    own.parent.mkdir()
    shutil.copyfile(src, own)
    found_spec, path = models.resolve(str(own))
    assert path == own.resolve()
    assert found_spec.name == spec.name
    assert len(server.hits) == 1


def test_explicit_path_unknown_file_gives_no_spec(tmp_path):
    junk = tmp_path / "custom.onnx"
    junk.write_bytes(b"not a known model")
    assert models.resolve(str(junk)) == (None, junk.resolve())
    # Same size as a known model but different bytes: still unknown.
    spec = models.get_spec(SMALL)
    same_size = tmp_path / "sub" / "other.bin"
    same_size.parent.mkdir()
    same_size.write_bytes(b"\1" * spec.size)
    assert models.resolve(str(same_size)) == (None, same_size.resolve())


def test_explicit_path_missing(tmp_path):
    with pytest.raises(ModelError, match="model file not found: .*nope.onnx"):
        models.resolve(str(tmp_path / "nope.onnx"))
    # A bare name ending in .onnx is a path too.
    with pytest.raises(ModelError, match="model file not found: nope.tflite"):
        models.resolve("nope.tflite")
    with pytest.raises(ModelError, match="not a file"):
        models.resolve(str(tmp_path) + os.sep)


def test_offline_missing_model_refuses_without_network(spec, no_network):
    with pytest.raises(ModelError) as err:
        models.resolve(spec.name, offline=True)
    msg = str(err.value)
    assert "not present" in msg and "downloading is off" in msg
    assert f"livebg models fetch {spec.name}" in msg
    assert "LIVEBG_MODEL_DIR" in msg
    assert "\n" not in msg
    with pytest.raises(ModelError, match="downloading is off"):
        models.fetch(spec.name, offline=True)


def test_offline_uses_local_copy(spec, model_dir, no_network):
    shutil.copyfile(_shared_file(spec.file), model_dir / spec.file)
    assert models.resolve(spec.name, offline=True) == (spec, model_dir / spec.file)
    assert models.fetch(spec.name, offline=True) == model_dir / spec.file


def test_corrupt_file_in_model_dir_is_refused(spec, model_dir, no_network):
    data = bytearray(_shared_file(spec.file).read_bytes())
    data[1000] ^= 0x55
    bad = model_dir / spec.file
    bad.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ModelError) as err:
        models.resolve(spec.name)
    msg = str(err.value)
    assert str(bad) in msg and "sha256" in msg
    assert spec.sha256 in msg and actual in msg
    assert "\n" not in msg
    assert models.find_present(spec) is None
    assert models.find_present(spec.name) is None
    with pytest.raises(ModelError, match="sha256"):
        models.fetch(spec.name)


def test_truncated_file_in_model_dir_is_refused_by_size(spec, model_dir):
    bad = model_dir / spec.file
    bad.write_bytes(_shared_file(spec.file).read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"1000 bytes, expected 249505 bytes") as err:
        models.resolve(spec.name)
    assert str(bad) in str(err.value) and spec.sha256 in str(err.value)


def test_corrupt_cache_refused_then_fetch_repairs(spec, cache, server, local_manifest):
    cache.mkdir(parents=True)
    (cache / spec.file).write_bytes(b"\0" * spec.size)
    with pytest.raises(ModelError, match="sha256"):
        models.resolve(spec.name)
    path = models.fetch(spec.name, progress=False)
    assert path == cache / spec.file
    assert _sha256(path) == spec.sha256
    assert models.resolve(spec.name)[1] == path


def test_hash_is_remembered_in_process(spec, model_dir, monkeypatch):
    shutil.copyfile(_shared_file(spec.file), model_dir / spec.file)
    models.resolve(spec.name)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    models.resolve(spec.name)
    assert calls == []
    # A changed file is hashed again (and refused).
    data = bytearray((model_dir / spec.file).read_bytes())
    data[0] ^= 1
    (model_dir / spec.file).write_bytes(bytes(data))
    os.utime(model_dir / spec.file, ns=(1, 1))
    with pytest.raises(ModelError, match="sha256"):
        models.resolve(spec.name)
    assert calls


# ---------------------------------------------------------------- download


def test_download_writes_verified_file(spec, tmp_path, server, capsys):
    dest = tmp_path / "dl" / "nested"
    local = dataclasses.replace(spec, urls=(f"{server.url}/{spec.file}",))
    path = models.download(local, dest, progress=False)
    assert path == dest / spec.file
    assert path.read_bytes() == _shared_file(spec.file).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == [spec.file]
    assert capsys.readouterr().err == ""
    # Downloading again replaces the file in place.
    assert models.download(local, dest, progress=False) == path
    assert sorted(p.name for p in dest.iterdir()) == [spec.file]


def test_download_progress_lines_when_not_a_tty(spec, tmp_path, server, capsys):
    local = dataclasses.replace(spec, urls=(f"{server.url}/{spec.file}",))
    models.download(local, tmp_path, progress=True)
    err = capsys.readouterr().err
    assert f"downloading {spec.name}" in err and "verified" in err


def test_download_wrong_bytes_refused(spec, tmp_path, server):
    dest = tmp_path / "dl"
    local = dataclasses.replace(spec, urls=(f"{server.url}/wrong/{spec.file}",))
    with pytest.raises(ModelError) as err:
        models.download(local, dest, progress=False)
    msg = str(err.value)
    assert "sha256" in msg and spec.sha256 in msg and "/wrong/" in msg
    assert "\n" not in msg
    assert not (dest / spec.file).exists()
    assert _part_files(dest) == []


def test_download_wrong_bytes_never_replace_good_file(spec, tmp_path, server):
    dest = tmp_path / "dl"
    good = dataclasses.replace(spec, urls=(f"{server.url}/{spec.file}",))
    models.download(good, dest, progress=False)
    bad = dataclasses.replace(spec, urls=(f"{server.url}/wrong/{spec.file}",))
    with pytest.raises(ModelError):
        models.download(bad, dest, progress=False)
    assert _sha256(dest / spec.file) == spec.sha256
    assert _part_files(dest) == []


def test_download_cut_mid_file_then_retry(spec, tmp_path, server):
    dest = tmp_path / "dl"
    cut = dataclasses.replace(spec, urls=(f"{server.url}/truncated/{spec.file}",))
    with pytest.raises(ModelError) as err:
        models.download(cut, dest, progress=False)
    assert "/truncated/" in str(err.value)
    assert not (dest / spec.file).exists()
    assert _part_files(dest) == []
    # A second attempt against a good URL succeeds.
    good = dataclasses.replace(spec, urls=(f"{server.url}/{spec.file}",))
    assert _sha256(models.download(good, dest, progress=False)) == spec.sha256
    assert _part_files(dest) == []


def test_download_falls_back_to_next_url(spec, tmp_path, server):
    dest = tmp_path / "dl"
    local = dataclasses.replace(
        spec,
        urls=(
            f"{server.url}/missing/{spec.file}",
            f"{server.url}/truncated/{spec.file}",
            f"{server.url}/{spec.file}",
        ),
    )
    path = models.download(local, dest, progress=False)
    assert _sha256(path) == spec.sha256
    assert [h.split("/")[1] for h in server.hits] == ["missing", "truncated", spec.file]
    assert _part_files(dest) == []


def test_download_all_urls_fail_lists_each_reason(spec, tmp_path, server):
    dest = tmp_path / "dl"
    urls = (
        f"{server.url}/missing/{spec.file}",
        f"{server.url}/oversize/{spec.file}",
        "http://127.0.0.1:1/unreachable",
    )
    with pytest.raises(ModelError) as err:
        models.download(dataclasses.replace(spec, urls=urls), dest, progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    for url in urls:
        assert url in msg
    assert "HTTP 404" in msg
    assert f"more than the expected {spec.size} bytes" in msg
    assert not (dest / spec.file).exists()
    assert _part_files(dest) == []


def test_download_refuses_wrong_content_length(spec, tmp_path, server):
    other = "selfie_segmentation_landscape.tflite"
    _shared_file(other)
    local = dataclasses.replace(spec, urls=(f"{server.url}/{other}",))
    with pytest.raises(ModelError, match=f"offers 250145 bytes, expected {spec.size}"):
        models.download(local, tmp_path, progress=False)
    assert _part_files(tmp_path) == []


def test_download_times_out(spec, tmp_path, server, monkeypatch):
    monkeypatch.setattr(models, "CONNECT_TIMEOUT", 0.5)
    local = dataclasses.replace(spec, urls=(f"{server.url}/stall/{spec.file}",))
    with pytest.raises(ModelError, match="timed out"):
        models.download(local, tmp_path / "dl", progress=False)
    assert _part_files(tmp_path / "dl") == []


def test_download_file_url(spec, tmp_path):
    src = _shared_file(spec.file)
    local = dataclasses.replace(spec, urls=(src.resolve().as_uri(),))
    path = models.download(local, tmp_path / "dl", progress=False)
    assert path.read_bytes() == src.read_bytes()


def test_download_missing_file_url(spec, tmp_path):
    url = (tmp_path / "absent.tflite").as_uri()
    with pytest.raises(ModelError, match="could not download"):
        models.download(dataclasses.replace(spec, urls=(url,)), tmp_path / "dl", progress=False)
    assert not (tmp_path / "dl" / spec.file).exists()


# ---------------------------------------------------------------- import, verify, list


def test_import_file_identifies_and_copies(spec, tmp_path, cache):
    src = tmp_path / "download" / "whatever-name.bin"
    src.parent.mkdir()
    shutil.copyfile(_shared_file(spec.file), src)
    found, path = models.import_file(src)
    assert found == spec
    assert path == cache / spec.file
    assert _sha256(path) == spec.sha256
    assert src.exists()
    assert _part_files(cache) == []
    assert models.find_present(spec.name) == cache / spec.file
    # Importing again keeps the intact copy.
    assert models.import_file(src) == (spec, path)


def test_import_unknown_file_refused(tmp_path, cache):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"hello")
    with pytest.raises(ModelError, match="matches no known model"):
        models.import_file(junk)
    with pytest.raises(ModelError, match="model file not found"):
        models.import_file(tmp_path / "absent.onnx")
    assert not cache.exists() or list(cache.iterdir()) == []


def test_verify_all_and_list_rows(cache, model_dir):
    ok = models.get_spec("mediapipe-selfie")
    bad = models.get_spec("mediapipe-selfie-landscape")
    cache.mkdir(parents=True)
    shutil.copyfile(_shared_file(ok.file), cache / ok.file)
    (model_dir / bad.file).write_bytes(b"\0" * bad.size)

    rows = {name: (status, detail) for name, status, detail in models.verify_all()}
    assert set(rows) == set(models.load_manifest())
    assert rows[ok.name] == ("ok", str(cache / ok.file))
    assert rows[bad.name][0] == "corrupt"
    assert "sha256" in rows[bad.name][1] and str(model_dir / bad.file) in rows[bad.name][1]
    assert rows["modnet"][0] == "missing"
    assert rows["mediapipe-selfie-onnx"][0] == "missing"

    listed = {row["name"]: row for row in models.list_rows()}
    assert listed[ok.name]["present"] is True
    assert listed[ok.name]["path"] == str(cache / ok.file)
    assert listed[ok.name]["size"] == ok.size
    assert listed[ok.name]["licence"] == "Apache-2.0"
    assert listed[bad.name]["present"] is False and listed[bad.name]["path"] == ""
    assert listed["modnet"]["present"] is False


# ---------------------------------------------------------------- the first start without a network

def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_first_start_without_network_is_one_line_then_models_import_works(tmp_path):
    """No model anywhere and no network (every connection refused, through a
    proxy address where nothing listens): `process` says one line, naming the
    default model, the file to get and the command that installs it (it once
    printed two "downloading" / "download failed" pairs and advice about the
    fallback). That command then makes the same `process` work, offline."""
    from clips import person_frames, write_clip
    from conftest import run_livebg

    clip = write_clip(tmp_path / "clip.mp4", person_frames(4, 320, 180)[0], fps=15)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "livebg_model_dir")}
    env.update(https_proxy=proxy, http_proxy=proxy, HTTPS_PROXY=proxy, HTTP_PROXY=proxy)
    spec = models.get_spec("mediapipe-selfie-onnx")
    for extra in ((), ("--offline",)):
        r = run_livebg("process", clip, "-o", tmp_path / "o.mp4", *extra, env=env)
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        line = lines[0]
        assert line.startswith("livebg: error: the default model mediapipe-selfie-onnx is not here"), line
        assert f"download {spec.urls[0]}" in line and "`livebg models import mediapipe_selfie.onnx`" in line
        assert ("could not be downloaded (" in line) if not extra else ("downloading is off" in line)
    assert not (tmp_path / "o.mp4").exists()

    r = run_livebg("models", "import", _shared_file(spec.file), env=env)
    assert r.returncode == 0 and "imported mediapipe-selfie-onnx" in r.stdout, r.stderr
    r = run_livebg("process", clip, "-o", tmp_path / "o.mp4", "--offline", env=env)
    assert r.returncode == 0, r.stderr
    assert "picked mediapipe-selfie-onnx" in r.stderr
