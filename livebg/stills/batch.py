"""Batches of pictures: inputs matched to outputs, a thread pool, a progress
bar, a line for each picture skipped or failed, and a summary at the end."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from livebg.backgrounds import Background, open_background
from livebg.console import Progress
from livebg.errors import ConfigError, InputError, LivebgError, describe
from livebg.files import IMAGE_SUFFIXES, write_bytes
from livebg.stills.compose import Options, compose
from livebg.stills.imagefiles import ALPHA_SUFFIXES, FORMATS, OUT_SUFFIXES, encode, read_image
from livebg.stills.subject import SubjectCutter


@dataclass
class Item:
    """One input's fate. status: done, skipped, failed."""

    src: Path
    dst: Path | None = None
    status: str = "pending"
    reason: str = ""
    note: str = ""  # a warning about a picture that was done
    seconds: float = 0.0
    subject: str = ""  # which pipeline cut it out: person or object
    why: str = ""      # and why (for --subject auto)


@dataclass
class Summary:
    items: list[Item] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0


def output_suffix(out: Path, fmt: str | None, flattened: bool, single_file: bool) -> tuple[str, bool]:
    """(suffix of the files to write, whether OUT is a file). Raises ConfigError."""
    out_is_file = single_file and out.suffix.lower() in OUT_SUFFIXES and not out.is_dir()
    if out_is_file:
        suffix = out.suffix.lower()
        if fmt and FORMATS[fmt] != (".jpg" if suffix == ".jpeg" else suffix):
            raise ConfigError(f"--format {fmt} contradicts the output file name '{out.name}'")
    elif fmt:
        suffix = FORMATS[fmt]
    else:
        suffix = ".jpg" if flattened else ".png"
    if not flattened and suffix not in ALPHA_SUFFIXES:
        raise ConfigError("JPEG has no alpha channel: write .png or .webp, or give --background (e.g. white)")
    return suffix, out_is_file


def plan(inputs: list[str], out: str, *, fmt: str | None = None, flattened: bool = False,
         overwrite: bool = False) -> tuple[Summary, list[Item]]:
    """Match inputs to outputs. Returns (summary with the items already
    skipped or failed, the items to process). Raises ConfigError for an
    unusable OUT; everything else about one input is that input's fate."""
    out_path = Path(out).expanduser()
    paths = [Path(p).expanduser() for p in inputs]
    single_file = len(paths) == 1 and not paths[0].is_dir()
    suffix, out_is_file = output_suffix(out_path, fmt, flattened, single_file)
    if out_is_file:
        folder = out_path.parent if str(out_path.parent) else Path(".")
        if not folder.is_dir():
            raise ConfigError(f"output folder does not exist: {folder}")
    else:
        if out_path.exists() and not out_path.is_dir():
            raise ConfigError(f"output {out_path} is a file, but several pictures need a folder")
        if out_path.suffix.lower() in OUT_SUFFIXES and not out_path.is_dir():
            what = f"there are {len(paths)} inputs" if len(paths) > 1 else "the input is a folder"
            raise ConfigError(f"output {out_path} looks like a file name, but {what}; give a folder")
        if not out_path.is_dir() and not (out_path.parent if str(out_path.parent) else Path(".")).is_dir():
            raise ConfigError(f"output folder's parent does not exist: {out_path.parent}")

    summary = Summary()
    todo: list[Item] = []
    candidates: list[Path] = []
    for p in paths:
        if not p.exists():
            summary.items.append(Item(p, status="failed", reason="no such file or folder"))
        elif p.is_dir():
            try:
                entries = sorted(e for e in p.iterdir() if not e.name.startswith("."))
            except OSError as e:
                summary.items.append(Item(p, status="failed", reason=f"cannot list folder: {e.strerror or e}"))
                continue
            files = [e for e in entries if e.is_file()]
            pictures = [e for e in files if e.suffix.lower() in IMAGE_SUFFIXES]
            others = [e for e in files if e.suffix.lower() not in IMAGE_SUFFIXES]
            if not pictures:
                extra = f" ({len(others)} other file{'s' * (len(others) != 1)})" if others else ""
                summary.items.append(Item(p, status="failed",
                                          reason=f"folder has no pictures (JPEG, PNG, WebP){extra}"))
                continue
            for e in others:
                summary.items.append(Item(e, status="skipped", reason=f"not a picture ({e.suffix or 'no suffix'})"))
            candidates.extend(pictures)
        else:
            candidates.append(p)

    taken: dict[Path, Path] = {}
    for src in candidates:
        dst = out_path if out_is_file else out_path / (src.stem + suffix)
        key = Path(os.path.abspath(dst))
        item = Item(src, dst)
        if key in taken:
            item.status, item.reason = "failed", f"same output name as {taken[key]}"
        elif src.exists() and dst.exists() and src.resolve() == dst.resolve():
            item.status, item.reason = "failed", "the output would overwrite this input"
        elif dst.exists() and not overwrite:
            taken[key] = src
            item.status, item.reason = "skipped", f"{dst} exists (use --overwrite)"
        else:
            taken[key] = src
            todo.append(item)
            continue
        summary.items.append(item)
    return summary, todo


def process_one(item: Item, cutter: SubjectCutter, options: Options, background: Background | None,
                overwrite: bool) -> Item:
    t0 = time.monotonic()
    try:
        bgr = read_image(item.src)
        alpha, choice, note = cutter.alpha(bgr)
        item.subject, item.why, item.note = choice.subject, choice.why, note
        if float(alpha.max()) < 0.5:
            who = "no person" if choice.subject == "person" else "no subject"
            item.note = f"{who} found: the cutout is empty" + (f"; {note}" if note else "")
        result = compose(bgr, alpha, options, background)
        data = encode(result, item.dst.suffix, options.quality)
        try:
            write_bytes(item.dst, data, overwrite=overwrite)
        except FileExistsError:
            item.status, item.reason = "skipped", f"{item.dst} exists (use --overwrite)"
            return item
        except PermissionError:
            raise InputError(f"cannot write {item.dst}: permission denied") from None
        except OSError as e:
            raise InputError(f"cannot write {item.dst}: {e.strerror or e}") from None
        item.status = "done"
        h, w = result.shape[:2]
        kind = "RGBA" if result.shape[2] == 4 else "RGB"
        item.reason = f"{w}x{h} {kind}"
    except LivebgError as e:
        item.status, item.reason = "failed", str(e)
    except MemoryError:
        item.status, item.reason = "failed", "out of memory"
    except Exception as e:  # a bug, but one picture must not end the batch
        item.status, item.reason = "failed", f"internal error: {describe(e)}"
    item.seconds = time.monotonic() - t0
    return item


def default_jobs() -> int:
    """Pictures in flight at once. OpenCV's filters already use every core,
    so extra workers only pay off with many cores: on a 2-core machine two
    workers took twice as long as one (15 portraits: 39.6 s against 18.6 s)."""
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 4 else min(4, cpus // 4)


def run_batch(inputs: list[str], out: str, options: Options, *, fmt: str | None = None, overwrite: bool = False,
              jobs: int | None = None, model: str = "auto", provider: str = "auto", offline: bool = False,
              subject: str = "auto", stream=None, log=None) -> Summary:
    """Cut out every input into ``out``; report as it goes and at the end.

    One line per skipped or failed input (as it happens), a progress bar on
    a terminal, and a summary line. Raises ConfigError/LivebgError only for
    problems that concern the whole run (bad OUT, bad background, no model).
    """
    stream = stream or sys.stderr
    flattened = options.background is not None and options.background.strip().lower() != "none"
    summary, todo = plan(inputs, out, fmt=fmt, flattened=flattened, overwrite=overwrite)
    progress = Progress(len(todo), stream=stream, enabled=len(todo) > 1, min_interval=0.0)
    say = progress.message
    for item in summary.items:
        say(f"livebg: {item.status} {item.src}: {item.reason}")
    if todo:
        background = open_background(options.background, still=True) if flattened else None
        todo[0].dst.parent.mkdir(parents=True, exist_ok=True)  # the output folder
        matter = SubjectCutter(subject, model, provider, offline)
        if log is not None:
            log(f"model: {matter.why}")
        try:
            n = max(1, min(jobs or default_jobs(), len(todo)))

            def work(item):
                process_one(item, matter, options, background, overwrite)
                if item.status != "done":
                    say(f"livebg: {item.status} {item.src}: {item.reason}")
                else:
                    if subject == "auto" and len(todo) > 1:
                        say(f"livebg: {item.src.name}: {item.subject}: {item.why}")
                    if item.note:
                        say(f"livebg: warning: {item.src}: {item.note}")
                progress.step(item.src.name)
                return item

            if n == 1:
                for item in todo:
                    work(item)
            else:
                cv_threads = cv2.getNumThreads()
                cv2.setNumThreads(max(1, (os.cpu_count() or 1) // n))  # share the cores, do not oversubscribe
                try:
                    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="cutout") as pool:
                        list(pool.map(work, todo))
                finally:
                    cv2.setNumThreads(cv_threads)
        finally:
            progress.close()
            matter.close()
        summary.items.extend(todo)
    done = [i for i in summary.items if i.status == "done"]
    if len(done) == 1 and len(summary.items) == 1:
        chosen = f"; subject: {done[0].subject}, {done[0].why}" if subject == "auto" else ""
        stream.write(f"livebg: wrote {done[0].dst} ({done[0].reason}{chosen})\n")
    parts = ", ".join(f"{summary.count(s)} {s}" for s in ("done", "skipped", "failed"))
    if subject == "auto" and done:
        counts = ", ".join(f"{n} {s}" for s in ("person", "object")
                           if (n := sum(1 for i in done if i.subject == s)))
        parts += f" (subject auto: {counts})"
    stream.write(f"livebg: cutout: {parts}\n")
    failed = [i for i in summary.items if i.status == "failed"]
    if failed and len(summary.items) > 1:
        for i in failed:
            stream.write(f"livebg:   failed {i.src}: {i.reason}\n")
    stream.flush()
    return summary
