"""Model manifest, lookup, download and verification.

The weights are never stored in the repository. ``models/manifest.toml``
names each model with its file name, exact size, sha256, licence and
download URLs, plus the input contract the runners rely on. A model is
looked for, in order:

1. an explicit file path given by the user (``--model path/to/x.onnx``);
2. the folder named by ``$LIVEBG_MODEL_DIR`` (files under their manifest
   names, e.g. an offline mirror);
3. the user cache folder, :func:`cache_dir`;
4. otherwise it is downloaded from the manifest URLs, in order, into the
   cache (unless downloading is off).

A file found in 2 or 3 must have the manifest size and sha256, else a
:class:`~livebg.errors.ModelError` names the file and both digests.
Downloads go to a temporary file beside the destination and are renamed
into place only once their size and sha256 are right, so the final name
never holds a partial or wrong file.

Some models are published only in parts (IMG.LY's, cut into 4 MiB chunks
each named by its own sha256): the manifest then lists the ``parts`` in
order, with their sizes and sha256, and ``part_urls``, address templates
with ``{sha256}`` where a part's digest goes. Each part is checked as it
arrives and kept, verified, in the cache's ``parts`` folder, so a download
that stops (a lost connection, Ctrl-C, a full disk) resumes where it
stopped; the whole file is then joined from the parts, checked against its
own size and sha256, and moved into place like any other download.

Only the standard library, platformdirs and livebg's own light modules are
imported here (the network modules only when downloading: the command line
reads the manifest for its help).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from livebg import __version__
from livebg.errors import ModelError
from livebg.files import atomic_file, cache_root, remove_stale_parts
from livebg.matting.base import KINDS

__all__ = [
    "CONNECT_TIMEOUT",
    "ModelSpec",
    "cache_dir",
    "download",
    "fetch",
    "file_sha256",
    "find_present",
    "get_spec",
    "identify",
    "import_file",
    "import_parts",
    "parts_dir",
    "Part",
    "list_rows",
    "load_manifest",
    "missing_message",
    "looks_like_path",
    "unknown_model_message",
    "ModelMissing",
    "how_to_get",
    "model_dir",
    "resolve",
    "verify_all",
    "verify_file",
]

#: Seconds to wait for a connection, and for each read once connected.
CONNECT_TIMEOUT = 30.0

_CHUNK = 256 * 1024
_MODEL_SUFFIXES = (".onnx", ".tflite")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry: where a model comes from and how to feed it.

    The runner of ``kind`` (livebg.matting.base.KINDS) knows the tensor
    names, layout and scaling of its kind; the manifest gives only what
    differs between files of one kind: ``input_size``, ``(height, width)``
    for a network that needs one size (MediaPipe hides it inside the
    .tflite), or ``()`` when it takes any size, and then ``ref_size``, the
    longer side it runs at by default.
    """

    name: str
    file: str
    size: int
    sha256: str
    licence: str
    kind: str
    urls: tuple[str, ...]
    description: str
    input: str
    input_size: tuple[int, ...] = ()
    ref_size: int = 0
    parts: tuple["Part", ...] = ()
    part_urls: tuple[str, ...] = ()

    @property
    def dynamic(self) -> bool:
        """True when the network accepts any (suitably rounded) input size."""
        return not self.input_size


@dataclass(frozen=True)
class Part:
    """One piece of a model published in parts: the file is the parts joined in order."""

    sha256: str
    size: int

    def url(self, template: str) -> str:
        """Where this part is, by a manifest ``part_urls`` template."""
        return template.replace("{sha256}", self.sha256)


# ---------------------------------------------------------------- manifest

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "file": str,
    "size": int,
    "sha256": str,
    "licence": str,
    "kind": str,
    "urls": list,
    "input": str,
    "input_size": list,
    "ref_size": int,
}
#: Fields only a model published in parts has (both or neither).
_PART_FIELDS: dict[str, type] = {"parts": list, "part_urls": list}


def _manifest_source() -> tuple[str, str]:
    """Return (text, where) of the manifest. Raises ModelError if absent."""
    checkout = Path(__file__).resolve().parent.parent / "models" / "manifest.toml"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8"), str(checkout)
    try:
        res = importlib.resources.files("livebg._models") / "manifest.toml"
        return res.read_text(encoding="utf-8"), "livebg._models/manifest.toml"
    except (ImportError, OSError) as exc:
        raise ModelError(
            f"model manifest not found: looked for {checkout} and for package "
            "data livebg._models/manifest.toml (broken install?)"
        ) from exc


def _parse_entry(name: str, table: object, where: str) -> ModelSpec:
    def bad(msg: str) -> ModelError:
        return ModelError(f"{where}: model {name!r}: {msg}")

    if not isinstance(table, dict):
        raise bad("must be a table")
    missing = [k for k in _FIELDS if k not in table]
    if missing:
        raise bad(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(table) - set(_FIELDS) - set(_PART_FIELDS))
    if unknown:
        raise bad(f"unknown field(s): {', '.join(unknown)}")
    for key, typ in {**_FIELDS, **_PART_FIELDS}.items():
        value = table.get(key, typ())
        if isinstance(value, bool) or not isinstance(value, typ):
            raise bad(f"field {key!r} has the wrong type")

    file = table["file"]
    if not file or "/" in file or "\\" in file or file.startswith("."):
        raise bad(f"file must be a plain file name, not {file!r}")
    if table["size"] <= 0:
        raise bad("size must be positive")
    if not _SHA256_RE.match(table["sha256"]):
        raise bad("sha256 must be 64 lower-case hex digits")
    if table["kind"] not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}")
    urls = table["urls"]
    parts = _parse_parts(table, table["size"], bad)
    if not all(isinstance(u, str) and _url_scheme_ok(u) for u in urls) or not (urls or parts):
        raise bad("urls must be a list of http(s):// or file:// URLs, not empty unless the model has parts")
    size = table["input_size"]
    if size and not (
        len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise bad("input_size must be [] or [height, width] with positive integers")
    if table["ref_size"] < 0:
        raise bad("ref_size must be >= 0")
    if not size and table["ref_size"] == 0:
        raise bad("a model with dynamic input_size needs a ref_size")

    return ModelSpec(
        name=name,
        file=file,
        size=table["size"],
        sha256=table["sha256"],
        licence=table["licence"],
        kind=table["kind"],
        urls=tuple(urls),
        description=table["description"],
        input=table["input"],
        input_size=tuple(size),
        ref_size=table["ref_size"],
        parts=parts,
        part_urls=tuple(table.get("part_urls", ())),
    )


def _url_scheme_ok(url: str) -> bool:
    return url.split(":", 1)[0] in ("http", "https", "file")


def _parse_parts(table: dict, size: int, bad: Callable[[str], ModelError]) -> tuple[Part, ...]:
    """The ``parts`` and ``part_urls`` of a manifest entry, checked: () when it has none."""
    if "parts" not in table and "part_urls" not in table:
        return ()
    if "parts" not in table or "part_urls" not in table:
        raise bad("parts and part_urls go together: give both or neither")
    templates = table["part_urls"]
    if not templates or not all(
        isinstance(u, str) and _url_scheme_ok(u) and u.count("{sha256}") == 1 for u in templates
    ):
        raise bad("part_urls must be a non-empty list of http(s):// or file:// URLs, each with {sha256} once")
    parts = []
    for i, item in enumerate(table["parts"], 1):
        if not isinstance(item, dict) or set(item) != {"sha256", "size"}:
            raise bad(f"part {i} must be a table with exactly sha256 and size")
        digest, n = item["sha256"], item["size"]
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            raise bad(f"part {i}: sha256 must be 64 lower-case hex digits")
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise bad(f"part {i}: size must be a positive integer")
        parts.append(Part(digest, n))
    if not parts:
        raise bad("parts must not be empty")
    total = sum(p.size for p in parts)
    if total != size:
        raise bad(f"the parts add up to {total} bytes, but size is {size}")
    return tuple(parts)


@functools.cache
def _manifest() -> dict[str, ModelSpec]:
    text, where = _manifest_source()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{where}: invalid TOML: {exc}") from exc
    specs = {name: _parse_entry(name, table, where) for name, table in data.items()}
    if not specs:
        raise ModelError(f"{where}: no models listed")
    return specs


def load_manifest() -> dict[str, ModelSpec]:
    """Return the manifest as ``{name: ModelSpec}``, in file order.

    Parsed once per process; the returned dict is a fresh copy.
    Raises ModelError if the manifest is missing or malformed.
    """
    return dict(_manifest())


def get_spec(name: str) -> ModelSpec:
    """Return the manifest entry *name*. Raises ModelError if unknown."""
    specs = _manifest()
    try:
        return specs[name]
    except KeyError:
        raise ModelError(unknown_model_message(name, list(specs))) from None


def unknown_model_message(name: str, known: list[str]) -> str:
    """``unknown model 'x'; did you mean y? (known models: ...)``: one line."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return (f"unknown model {name!r}{hint} (known models: {', '.join(known)}; "
            "or give the path of a .onnx/.tflite file)")


# ---------------------------------------------------------------- folders


def cache_dir() -> Path:
    """Folder where downloaded models are kept.

    ``<user cache dir>/livebg/models``; ``$LIVEBG_CACHE_DIR`` replaces the
    ``<user cache dir>/livebg`` part. The folder may not exist yet.
    """
    return cache_root() / "models"


def model_dir() -> Path | None:
    """The folder named by ``$LIVEBG_MODEL_DIR``, or None when unset."""
    env = os.environ.get("LIVEBG_MODEL_DIR")
    return Path(env).expanduser() if env else None


def _candidates(spec: ModelSpec) -> list[tuple[Path, str]]:
    """Places *spec* may already be, in lookup order, with a fix-it hint each."""
    out = []
    mdir = model_dir()
    if mdir is not None:
        out.append((mdir / spec.file, "replace it or unset LIVEBG_MODEL_DIR"))
    out.append(
        (cache_dir() / spec.file, f"run `livebg models fetch {spec.name}` to download it again")
    )
    return out


# ---------------------------------------------------------------- hashing

_hash_lock = threading.Lock()
_hash_cache: dict[tuple[str, int, int, int, int], str] = {}


def _stat_key(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file; remembered per (path, inode, size, mtime).

    Raises OSError if the file cannot be read.
    """
    p = Path(path)
    key = _stat_key(p)
    with _hash_lock:
        known = _hash_cache.get(key)
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    digest = h.hexdigest()
    with _hash_lock:
        _hash_cache[key] = digest
    return digest


def _remember_hash(path: Path, digest: str) -> None:
    with contextlib.suppress(OSError):
        key = _stat_key(path)
        with _hash_lock:
            _hash_cache[key] = digest


def verify_file(spec: ModelSpec, path: str | os.PathLike[str], hint: str = "") -> None:
    """Check that *path* has the size and sha256 of *spec*.

    Size is checked first, so a wrong-sized file is not hashed. Raises
    ModelError (one line naming the file, expected and actual values, and
    *hint* if given) on a mismatch or if the file cannot be read.
    """
    p = Path(path)
    tail = f"; {hint}" if hint else ""
    try:
        size = p.stat().st_size
        if size != spec.size:
            raise ModelError(
                f"model file {p} is corrupt: {size} bytes, expected {spec.size} bytes "
                f"(sha256 {spec.sha256}) for {spec.name}{tail}"
            )
        digest = file_sha256(p)
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc.strerror or exc}") from exc
    if digest != spec.sha256:
        raise ModelError(
            f"model file {p} is corrupt: sha256 {digest}, expected {spec.sha256} "
            f"for {spec.name}{tail}"
        )


def identify(path: str | os.PathLike[str]) -> ModelSpec | None:
    """Return the manifest entry whose size and sha256 match *path*, or None.

    Only hashes the file when its size matches some entry. Raises
    ModelError if the file cannot be read.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        same_size = [s for s in _manifest().values() if s.size == size]
        if not same_size:
            return None
        digest = file_sha256(p)
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc.strerror or exc}") from exc
    return next((s for s in same_size if s.sha256 == digest), None)


# ---------------------------------------------------------------- lookup


def looks_like_path(text: str) -> bool:
    """True when --model text names a file rather than a model: a path separator, or .onnx/.tflite."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in text for s in seps) or text.lower().endswith(_MODEL_SUFFIXES)


def _as_spec(spec_or_name: ModelSpec | str) -> ModelSpec:
    return spec_or_name if isinstance(spec_or_name, ModelSpec) else get_spec(spec_or_name)


def find_present(spec: ModelSpec | str) -> Path | None:
    """Path of a verified local copy of *spec*, without downloading.

    Looks where :func:`resolve` looks (``$LIVEBG_MODEL_DIR``, then the
    cache) and returns the first file found if its size and sha256 are
    right; None if there is none or that file is corrupt (which
    :func:`resolve` would refuse). Raises ModelError only for an unknown
    name.
    """
    spec = _as_spec(spec)
    for path, _hint in _candidates(spec):
        if path.is_file():
            try:
                verify_file(spec, path)
            except ModelError:
                return None
            return path
    return None



class ModelMissing(ModelError):
    """A model that is not here and could not be had: downloading is off, or
    every download failed. ``spec``: which; ``why``: that, in a few words
    (``"downloading is off"``, or each address's failure)."""

    def __init__(self, message: str, spec: ModelSpec | None = None, why: str = ""):
        super().__init__(message)
        self.spec = spec
        self.why = why


def how_to_get(spec: ModelSpec, where: str = "") -> str:
    """Where to get *spec* by hand and how to install it: for a machine without network.
    where: said after the address, e.g. "(on any machine with a network)"."""
    where = f" {where}" if where else ""
    if not spec.urls and spec.parts:  # published in parts only: a folder of them is imported
        host = spec.part_urls[0].split("{sha256}", 1)[0]
        return (f"download its {len(spec.parts)} parts (files named by their sha256) from {host}{where} into a "
                f"folder and install them with `livebg models import FOLDER`")
    return f"download {spec.urls[0]}{where} and install it with `livebg models import {spec.file}`"


def missing_message(spec: ModelSpec) -> str:
    """One-line explanation that *spec* is absent and how to get it."""
    where = ", ".join(str(p.parent) for p, _ in _candidates(spec))
    return (
        f"model {spec.name} ({spec.file}) is not present and downloading is off; "
        f"get it with `livebg models fetch {spec.name}`, or {how_to_get(spec)}, or put {spec.file} in a "
        f"folder named by LIVEBG_MODEL_DIR (looked in: {where})"
    )


def resolve(
    name_or_path: str, *, offline: bool = False, progress: bool = True
) -> tuple[ModelSpec | None, Path]:
    """Find a model file, downloading it into the cache if needed.

    *name_or_path* is a manifest name, or a file path (anything containing
    a path separator or ending in .onnx/.tflite). For a path, the spec is
    the manifest entry with the same sha256, or None for a file livebg
    does not know (the caller then inspects the file itself).

    Raises ModelError: path that does not exist ("model file not found"),
    unknown name (listing the known ones), a local copy with the wrong
    size or sha256, a missing model with *offline* set, or a failed
    download.
    """
    if looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise ModelError(f"model file not found: {name_or_path}")
        if not path.is_file():
            raise ModelError(f"model path is not a file: {name_or_path}")
        return identify(path), path.resolve()

    spec = get_spec(name_or_path)
    for path, hint in _candidates(spec):
        if path.is_file():
            verify_file(spec, path, hint)
            return spec, path
    if offline:
        raise ModelMissing(missing_message(spec), spec, "downloading is off")
    return spec, download(spec, cache_dir(), progress=progress)


def fetch(name: str, *, offline: bool = False, progress: bool = True) -> Path:
    """Make sure model *name* is present locally; return its path.

    An intact copy in ``$LIVEBG_MODEL_DIR`` or the cache is kept; a corrupt
    copy in the cache is downloaded again (replaced atomically). Raises
    ModelError for an unknown name, a corrupt copy in ``$LIVEBG_MODEL_DIR``
    (livebg does not write there), a missing or corrupt model with
    *offline* set, or a failed download.
    """
    spec = get_spec(name)
    mdir = model_dir()
    if mdir is not None and (mdir / spec.file).is_file():
        verify_file(spec, mdir / spec.file, "replace it or unset LIVEBG_MODEL_DIR")
        return mdir / spec.file
    cached = cache_dir() / spec.file
    if cached.is_file():
        try:
            verify_file(spec, cached)
            return cached
        except ModelError:
            if offline:
                raise
    elif offline:
        raise ModelMissing(missing_message(spec), spec, "downloading is off")
    return download(spec, cache_dir(), progress=progress)


def verify_all() -> list[tuple[str, str, str]]:
    """Check every manifest model: ``[(name, status, detail), ...]``.

    status is "ok" (detail: the path), "missing" (detail: where it was
    looked for) or "corrupt" (detail: the error). Only the first copy
    found is checked, as :func:`resolve` would use it. Raises ModelError
    only if the manifest itself is broken.
    """
    rows = []
    for spec in _manifest().values():
        cands = _candidates(spec)
        found = next((p for p, _ in cands if p.is_file()), None)
        if found is None:
            where = ", ".join(str(p.parent) for p, _ in cands)
            rows.append((spec.name, "missing", f"not in {where}"))
            continue
        try:
            verify_file(spec, found)
        except ModelError as exc:
            rows.append((spec.name, "corrupt", str(exc)))
        else:
            rows.append((spec.name, "ok", str(found)))
    return rows


def list_rows() -> list[dict]:
    """One dict per manifest model for ``livebg models list``.

    Keys: name, kind, licence, size (bytes), present (bool, intact local
    copy), path (str, "" when not present), description.
    """
    rows = []
    for spec in _manifest().values():
        path = find_present(spec)
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "licence": spec.licence,
                "size": spec.size,
                "present": path is not None,
                "path": str(path) if path is not None else "",
                "description": spec.description,
            }
        )
    return rows


# ---------------------------------------------------------------- writing


class _Refused(Exception):
    """A download or copy whose bytes are not the expected ones."""


def _write_checked(
    final: Path,
    size: int,
    sha256: str,
    chunks: Iterable[bytes],
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Write *chunks* to *final* only if they are exactly *size* bytes with *sha256*.

    Through :func:`livebg.files.atomic_file`: the bytes go to a temporary
    file beside the final name, are fsynced, and are moved into place (an
    existing file replaced) once size and sha256 match; on any failure the
    temporary file is removed and the final name is untouched. Raises
    _Refused for wrong bytes, OSError for I/O trouble, or whatever the
    *chunks* iterator raises.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(final)
    with atomic_file(final, overwrite=True, durable=True) as tmp:
        h = hashlib.sha256()
        total = 0
        with open(tmp, "wb") as f:
            for chunk in chunks:
                total += len(chunk)
                if total > size:
                    raise _Refused(f"more than the expected {size} bytes")
                h.update(chunk)
                f.write(chunk)
                if on_bytes is not None:
                    on_bytes(total)
        if total != size:
            raise _Refused(f"got {total} bytes, expected {size} (transfer cut short)")
        digest = h.hexdigest()
        if digest != sha256:
            raise _Refused(f"wrong sha256 {digest}, expected {sha256}")
    _remember_hash(final, digest)
    return final


def _write_verified(
    spec: ModelSpec,
    dest_dir: Path,
    chunks: Iterable[bytes],
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Write *chunks* to ``dest_dir/spec.file`` only if they are exactly *spec*
    (see :func:`_write_checked`). A temporary file is never resumed (its
    bytes were not verified as they came): a download restarts instead."""
    return _write_checked(Path(dest_dir) / spec.file, spec.size, spec.sha256, chunks, on_bytes)


def _response_chunks(resp) -> Iterator[bytes]:
    while chunk := resp.read(_CHUNK):
        yield chunk


def _file_chunks(paths: Iterable[Path]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                yield chunk


def _reason(exc: BaseException) -> str:
    import http.client
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return "timed out"
        return str(getattr(reason, "strerror", None) or reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text or type(exc).__name__


def _download_errors() -> tuple[type[BaseException], ...]:
    """What one download attempt may fail with, turned into a one-line reason
    (the network modules are imported only when downloading)."""
    import http.client

    return (OSError, http.client.HTTPException, ValueError, _Refused)


def _fetch_to(final: Path, size: int, sha256: str, url: str, on_bytes: Callable[[int], None],
              connected: Callable[[], None] | None = None) -> Path:
    """Download *url* into *final* (atomically), refusing anything but *size* bytes with *sha256*.
    ``connected()`` is called once the server answered (so that, without a network,
    the one line is the error, not a "downloading" line before it)."""
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": f"livebg/{__version__}"})
    with urllib.request.urlopen(req, timeout=CONNECT_TIMEOUT) as resp:
        length = resp.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) != size:
            raise _Refused(f"server offers {int(length)} bytes, expected {size}")
        if connected is not None:
            connected()
        return _write_checked(final, size, sha256, _response_chunks(resp), on_bytes)


def _download_one(spec: ModelSpec, url: str, dest_dir: Path, progress, announce: bool) -> Path:
    def connected():
        if announce:
            progress.message(f"livebg: downloading {spec.name} ({spec.size / 1e6:.1f} MB) from {url}")

    return _fetch_to(dest_dir / spec.file, spec.size, spec.sha256, url, progress.update, connected)


def parts_dir(dest_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where verified parts of a model published in parts wait to be joined:
    ``<dest_dir or the cache>/parts``, one file per part named by its sha256."""
    return Path(dest_dir if dest_dir is not None else cache_dir()) / "parts"


def _part_ok(path: Path, part: Part) -> bool:
    """True when *path* holds exactly *part* (size first, then sha256)."""
    try:
        return path.stat().st_size == part.size and file_sha256(path) == part.sha256
    except OSError:
        return False


def _parts_present(spec: ModelSpec, pool: Path) -> list[bool]:
    """For each part of *spec*: is a verified copy in *pool*? A wrong copy is removed."""
    here = []
    for part in spec.parts:
        path = pool / part.sha256
        ok = path.is_file() and _part_ok(path, part)
        if not ok and path.exists():
            with contextlib.suppress(OSError):
                path.unlink()
        here.append(ok)
    return here


class _PartsFailed(Exception):
    """A model in parts could not be completed; the message says which part and why."""


def _check_space(folder: Path, needed: int, what: str) -> None:
    """Raise _PartsFailed when *folder*'s file system has less than *needed* bytes free."""
    import shutil

    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: let the writes say
    if free < needed:
        raise _PartsFailed(
            f"not enough free space in {folder}: {what} needs {needed / 1e6:.1f} MB, "
            f"{free / 1e6:.1f} MB free"
        )


def _join_parts(spec: ModelSpec, folder: Path, pool: Path) -> Path:
    """Join the verified parts in *pool* into ``folder/spec.file``, checked as a whole;
    then remove the parts. Raises _Refused, _PartsFailed or OSError."""
    _check_space(folder, spec.size, f"joining the {len(spec.parts)} parts")
    path = _write_checked(folder / spec.file, spec.size, spec.sha256,
                          _file_chunks(pool / p.sha256 for p in spec.parts))
    for part in spec.parts:
        with contextlib.suppress(OSError):
            (pool / part.sha256).unlink()
    with contextlib.suppress(OSError):
        pool.rmdir()  # only when empty: parts of another model may wait there
    return path


def _download_parts(spec: ModelSpec, folder: Path, show, say: Callable[[str], None]) -> Path:
    """Fetch every missing part of *spec* into the parts folder, then join them.

    Parts already there and verified are kept (a resumed download); each
    part is tried at every ``part_urls`` template in turn. Raises
    _PartsFailed (which part, each address's reason, what is kept),
    _Refused when the joined file is wrong, or OSError.
    """
    pool = parts_dir(folder)
    pool.mkdir(parents=True, exist_ok=True)
    here = _parts_present(spec, pool)
    n = len(spec.parts)
    done = sum(p.size for p, ok in zip(spec.parts, here) if ok)
    if any(here):
        say(f"livebg: {sum(here)} of {n} parts ({done / 1e6:.1f} MB) already here, verified; fetching the rest")
    _check_space(folder, spec.size - done + spec.size, "downloading and joining the parts")
    show.update(done)
    for i, (part, ok) in enumerate(zip(spec.parts, here), 1):
        if ok:
            continue
        import urllib.error

        failures = []
        for template in spec.part_urls:
            url = part.url(template)
            try:
                _fetch_to(pool / part.sha256, part.size, part.sha256, url,
                          lambda got, base=done: show.update(base + got))
                break
            except _download_errors() as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()
                failures.append(f"{url}: {_reason(exc)}")
                show.update(done)
        else:
            kept = sum(_parts_present(spec, pool))
            raise _PartsFailed(
                f"part {i} of {n} failed: " + "; ".join(failures)
                + f" ({kept} of {n} verified parts are kept in {pool} and reused next time)"
            )
        done += part.size
    return _join_parts(spec, folder, pool)


def download(spec: ModelSpec, dest_dir: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Download *spec* into *dest_dir* (created if needed); return the path.

    Tries ``spec.urls`` in order (http, https or file URLs), with
    :data:`CONNECT_TIMEOUT` on connecting and on each read, hashing while
    streaming into a temporary file that is renamed to ``spec.file`` only
    once size and sha256 match; an existing file of that name is replaced
    atomically. A model published in parts is then fetched part by part
    (each checked as it arrives, kept in :func:`parts_dir` so that a later
    attempt resumes) and joined. With *progress*, reports on stderr (one
    bar for the whole model when stderr is a terminal). Raises ModelError
    listing each failure when no address gives the right file.
    """
    import logging
    import urllib.error

    from livebg.console import Progress, megabytes_text

    folder = Path(dest_dir)
    failures = []
    reasons = []
    for url in spec.urls:
        show = Progress(spec.size, text=megabytes_text, enabled=progress)
        try:
            path = _download_one(spec, url, folder, show, announce=progress)
        except _download_errors() as exc:
            reason = _reason(exc)
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()
            show.close()
            # Said in the error if every address fails; a later one may well work.
            logging.getLogger("livebg").debug("download failed: %s: %s", url, reason)
            failures.append(f"{url}: {reason}")
            reasons.append(reason)
            continue
        show.close()
        if progress:
            show.message(f"livebg: {spec.name} downloaded and verified")
        return path
    if spec.parts:
        show = Progress(spec.size, text=megabytes_text, enabled=progress)
        say = show.message if progress else (lambda _text: None)
        host = spec.part_urls[0].split("{sha256}", 1)[0]
        say(f"livebg: downloading {spec.name} ({spec.size / 1e6:.1f} MB in {len(spec.parts)} parts, "
            f"weights under {spec.licence}) from {host}")
        try:
            path = _download_parts(spec, folder, show, say)
        except (_PartsFailed, _Refused) as exc:
            failures.append(str(exc))
            reasons.append(str(exc))
        except OSError as exc:
            failures.append(f"{_reason(exc)} (verified parts are kept in {parts_dir(folder)})")
            reasons.append(_reason(exc))
        else:
            show.close()
            say(f"livebg: {spec.name}: {len(spec.parts)} parts joined; the whole file verified")
            return path
        finally:
            show.close()
    raise ModelMissing(
        f"could not download {spec.name} ({spec.file}): " + "; ".join(failures)
        + f"; {how_to_get(spec)} (or put it in a folder and set LIVEBG_MODEL_DIR to it)",
        spec, "; ".join(dict.fromkeys(reasons)),
    )


def import_file(path: str | os.PathLike[str]) -> tuple[ModelSpec, Path]:
    """Copy a model file the manifest knows into the cache; return (spec, path).

    The file is identified by size and sha256, and copied atomically (same
    guarantees as :func:`download`) to ``cache_dir() / spec.file``; an
    intact copy already there is kept. A folder is taken as parts of a
    model published in parts (files named by their sha256, as the
    publisher serves them): see :func:`import_parts`. Raises ModelError if
    the file does not exist, cannot be read, or matches no known model.
    """
    src = Path(path).expanduser()
    if src.is_dir():
        spec, dest, _count = import_parts(src)
        return spec, dest
    if not src.is_file():
        raise ModelError(f"model file not found: {path}")
    spec = identify(src)
    if spec is None:
        digest = file_sha256(src)
        raise ModelError(
            f"{src} matches no known model (sha256 {digest}); known models: "
            + ", ".join(_manifest())
        )
    dest = cache_dir() / spec.file
    if dest.is_file():
        with contextlib.suppress(ModelError):
            verify_file(spec, dest)
            return spec, dest

    try:
        return spec, _write_verified(spec, cache_dir(), _file_chunks([src]))
    except _Refused as exc:
        raise ModelError(f"{src} changed while being copied: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"cannot copy {src} into {cache_dir()}: {exc}") from exc


def import_parts(folder: str | os.PathLike[str]) -> tuple[ModelSpec, Path, int]:
    """Import the parts of a model published in parts from *folder*; return
    (spec, path of the joined model, parts copied).

    A file in *folder* (not its subfolders) whose name is the sha256 of a
    part of a manifest model is checked (size, sha256) and copied into
    :func:`parts_dir`; when every part of that model is then there, they
    are joined and the whole file checked, as after a download. Raises
    ModelError when the folder holds no known part, when a file named as a
    part does not hold it, or when parts are still missing (saying how
    many, and that ``livebg models fetch`` gets the rest).
    """
    src = Path(folder).expanduser()
    wanted = {p.sha256: (spec, p) for spec in _manifest().values() for p in spec.parts}
    try:
        names = {f.name: f for f in src.iterdir() if f.is_file()}
    except OSError as exc:
        raise ModelError(f"cannot list {src}: {exc.strerror or exc}") from exc
    found = [(names[d], *wanted[d]) for d in wanted if d in names]
    if not found:
        raise ModelError(f"{src} holds no part of a known model (parts are files named by their sha256)")
    specs = {spec.name: spec for _f, spec, _p in found}
    if len(specs) > 1:
        raise ModelError(f"{src} holds parts of several models ({', '.join(specs)}); import one at a time")
    (spec,) = specs.values()
    pool = parts_dir()
    copied = 0
    for path, _spec, part in found:
        if (pool / part.sha256).is_file() and _part_ok(pool / part.sha256, part):
            continue
        try:
            _write_checked(pool / part.sha256, part.size, part.sha256, _file_chunks([path]))
        except _Refused as exc:
            raise ModelError(f"{path} is named as a part of {spec.name} but is not that part: {exc}") from exc
        except OSError as exc:
            raise ModelError(f"cannot copy {path} into {pool}: {_reason(exc)}") from exc
        copied += 1
    here = _parts_present(spec, pool)
    if not all(here):
        raise ModelError(
            f"{sum(here)} of {len(spec.parts)} parts of {spec.name} are now in {pool}; "
            f"`livebg models fetch {spec.name}` downloads the other {len(here) - sum(here)}"
        )
    try:
        return spec, _join_parts(spec, cache_dir(), pool), copied
    except (_PartsFailed, _Refused) as exc:
        raise ModelError(f"cannot join the parts of {spec.name}: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"cannot join the parts of {spec.name} in {cache_dir()}: {_reason(exc)}") from exc
