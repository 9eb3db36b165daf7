"""Keeping a cut-off recording playable.

Recordings are fragmented MP4 (``ftyp``, ``moov``, then ``moof`` + ``mdat``
pairs, one per keyframe interval). When writing stops half-way through a
fragment (the disk is full), the file ends in a partial box that players
and decoders stumble on. :func:`trim_to_fragments` cuts the file back to
the end of the last complete fragment, so everything before it plays
cleanly, and counts the frames kept. Only the standard library is used.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FragmentScan:
    size: int          # bytes in the file
    good_end: int      # bytes up to the end of the last complete fragment (0: nothing playable)
    frames: int        # frames (samples) in the complete fragments
    fragments: int     # complete moof + mdat pairs
    header_ok: bool    # ftyp and moov are complete


def _box_at(f, offset: int, end: int):
    """(size, type) of the box at ``offset``, or None when it does not fit before ``end``."""
    if offset + 8 > end:
        return None
    f.seek(offset)
    head = f.read(8)
    if len(head) < 8:
        return None
    size, kind = struct.unpack(">I4s", head)
    if size == 1:
        ext = f.read(8)
        if len(ext) < 8:
            return None
        size = struct.unpack(">Q", ext)[0]
    elif size == 0:  # "to the end of the file": only the last box, and we cannot tell if it is whole
        return None
    if size < 8 or offset + size > end:
        return None
    return size, kind


def _moof_frames(f, offset: int, size: int) -> int:
    """Samples in a moof: the sum of sample_count over its traf/trun boxes."""
    total = 0
    pos, end = offset + 8, offset + size
    while (box := _box_at(f, pos, end)) is not None:
        bsize, kind = box
        if kind == b"traf":
            tpos, tend = pos + 8, pos + bsize
            while (inner := _box_at(f, tpos, tend)) is not None:
                isize, ikind = inner
                if ikind == b"trun" and isize >= 16:
                    f.seek(tpos + 12)  # header, then version/flags
                    total += struct.unpack(">I", f.read(4))[0]
                tpos += isize
        pos += bsize
    return total


def scan(path: str | os.PathLike) -> FragmentScan:
    """Walk the top-level boxes of a fragmented MP4 without decoding anything."""
    p = Path(path)
    size = p.stat().st_size
    frames = fragments = 0
    good_end = 0
    header = set()
    pending_moof = None  # (frames) of a complete moof waiting for its mdat
    with open(p, "rb") as f:
        pos = 0
        while (box := _box_at(f, pos, size)) is not None:
            bsize, kind = box
            if kind in (b"ftyp", b"moov"):
                header.add(kind)
                if header == {b"ftyp", b"moov"}:
                    good_end = pos + bsize
            elif kind == b"moof":
                pending_moof = _moof_frames(f, pos, bsize)
            elif kind == b"mdat" and pending_moof is not None:
                frames += pending_moof
                fragments += 1
                pending_moof = None
                good_end = pos + bsize
            elif pending_moof is None and len(header) == 2:
                good_end = pos + bsize  # mfra and other whole boxes after a fragment
            pos += bsize
    header_ok = header == {b"ftyp", b"moov"}
    return FragmentScan(size, good_end if header_ok else 0, frames, fragments, header_ok)


def trim_to_fragments(path: str | os.PathLike) -> FragmentScan:
    """Cut ``path`` back to its last complete fragment; returns the scan.

    A file whose header never made it to disk has nothing playable; it is
    left as it is (``good_end`` 0) for the caller to report.
    """
    s = scan(path)
    if s.header_ok and s.good_end < s.size:
        os.truncate(path, s.good_end)
    return s
