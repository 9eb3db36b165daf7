"""Soak test: `livebg run` for a long time, watching memory, rate and the recording.

A benchmark, not a CI test. It runs the real command line for N minutes
(default 60) with a video file as the camera, recording on, and the output
going to the emulated V4L2 device (tests/fakev4l2, an LD_PRELOAD shim: the
frames go to /dev/null, one timestamp per frame is kept) or, with
--no-vcam, nowhere. Every 10 s it samples the process's resident memory
(VmRSS from /proc/PID/status). At the end it reports start, end and peak
memory and the growth rate, the latency and repeated-frame figures from
livebg's final log line, the output frame count against the expected
count and the longest gap between output frames, and whether the
recording reads back (every frame decoded with PyAV) with the expected
number of frames. It prints a markdown table and writes
bench/results/soak.md.

    python bench/soak.py --minutes 60
    python bench/soak.py --minutes 10 --no-vcam --width 640 --height 360
    python bench/soak.py --minutes 10 --model rvm
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

SUMMARY = re.compile(
    r"(?P<sent>\d+) frames out in (?P<elapsed>[\d.]+) s \((?P<fps>[\d.]+) fps\), (?P<repeated>\d+) repeated, "
    r"(?P<captured>\d+) captured, (?P<dropped>\d+) dropped at capture, "
    r"latency p50 (?P<p50>\w+) ms / p95 (?P<p95>\w+) ms, (?P<mattes>\d+) mattes")
RECORDED = re.compile(r"recorded (?P<frames>\d+) frames to .*?(?: \((?P<dropped>\d+) dropped[^)]*\))?$")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) and Threads from /proc/PID/status (kB for the Vm* ones)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def make_clip(folder: Path, width: int, height: int, fps: float) -> Path:
    """The test suite's moving-portrait clip (2 s, looped by livebg)."""
    from clips import person_frames, write_clip

    frames, _ = person_frames(int(round(fps * 2)), width, height)
    return write_clip(folder / "camera.mp4", frames, fps=fps)


def count_frames(path: Path) -> tuple[int, str | None]:
    """Frames PyAV decodes from the whole file, and the error that stopped it (None: read to the end)."""
    import av

    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(video=0):
                n += 1
    except av.FFmpegError as e:
        return n, str(e)
    return n, None


def fmt_mb(kb: float | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--input", help="video file to use as the camera (default: a generated 2 s clip, looped)")
    ap.add_argument("--background", default="blur")
    ap.add_argument("--model", default="auto", help="livebg's --model (default auto: RVM where it keeps up)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--no-vcam", action="store_true", help="no virtual camera (default: the emulated V4L2 device)")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    ap.add_argument("--workdir", help="keep the recording and logs here (default: a temporary folder, removed)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.md"))
    a = ap.parse_args()

    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="livebg-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    clip = Path(a.input) if a.input else make_clip(work, a.width, a.height, a.fps)
    rec = work / "soak.mp4"
    duration = a.minutes * 60
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("LIVEBG_MODEL_DIR", str(ROOT.parent / "shared" / "data" / "models"))
    cmd = [sys.executable, "-m", "livebg", "run", "--input", str(clip), "--no-tray", "--duration", f"{duration:g}",
           "--record", str(rec), "--background", a.background, "--width", str(a.width), "--height", str(a.height),
           "--fps", f"{a.fps:g}", "--model", a.model]
    ts_path = None
    if a.no_vcam:
        cmd.append("--no-vcam")
    else:
        from fakecam import FakeV4L2Device, build_shim

        dev = FakeV4L2Device(work / "vcam", "/dev/video7", lib=build_shim(work / "vcam"))
        dev.reset()
        env = dev.env(env)
        env["FAKEV4L2_OUT"] = "/dev/null"  # frames are not kept (720p30 is 40 MB a second); their times are
        ts_path = dev.ts_path
        cmd += ["--device", "/dev/video7"]

    print(f"soak: {a.minutes:g} min, {a.width}x{a.height} at {a.fps:g} fps, "
          f"{'no virtual camera' if a.no_vcam else 'emulated V4L2 device'}; work folder {work}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, cwd=work)
    lines: list[str] = []

    def drain():
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            print(f"  [{time.monotonic() - t0:7.1f} s] {line}", end="", flush=True)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    samples = []  # (seconds since start, VmRSS kB, threads, cpu s)
    peak = None
    while proc.poll() is None:
        st = proc_status(proc.pid)
        if "VmRSS" in st:
            samples.append((time.monotonic() - t0, st["VmRSS"], st.get("Threads"), cpu_seconds(proc.pid)))
            peak = st.get("VmHWM", peak)
            if len(samples) % 6 == 1:
                print(f"  rss {fmt_mb(st['VmRSS'])} at {samples[-1][0]:.0f} s, {st.get('Threads')} threads",
                      flush=True)
        deadline = time.monotonic() + a.sample
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    reader.join(10)
    wall = time.monotonic() - t0
    rc = proc.returncode

    summary = next((m.groupdict() for ln in reversed(lines) if (m := SUMMARY.search(ln))), None)
    recorded = next((m.groupdict() for ln in reversed(lines) if (m := RECORDED.search(ln))), None)
    errors = [ln for ln in lines if "error" in ln.lower() or "warning" in ln.lower() or "Traceback" in ln]
    expected = int(round(duration * a.fps))
    vcam_frames = max_gap = None
    if ts_path is not None and ts_path.exists():
        import numpy as np

        ts = np.array([float(r.split()[0]) for r in ts_path.read_text().splitlines() if r.strip()])
        vcam_frames = len(ts)
        max_gap = float(np.diff(ts).max()) if len(ts) > 1 else None
    print("soak: reading the recording back...", flush=True)
    from livebg import salvage

    decoded, decode_error = count_frames(rec) if rec.exists() else (0, "no file")
    scan = salvage.scan(rec) if rec.exists() else None

    # Memory: the first sample after a minute (models loaded, buffers warm) to the last.
    warm = [s for s in samples if s[0] >= 60] or samples[len(samples) // 2:]
    rss_start, rss_end = (warm[0][1], warm[-1][1]) if warm else (None, None)
    growth = None
    if len(warm) >= 3 and warm[-1][0] > warm[0][0]:
        import numpy as np

        t = np.array([s[0] for s in warm]) / 3600
        r = np.array([s[1] for s in warm]) / 1024
        growth = float(np.polyfit(t, r, 1)[0])  # MB per hour, least squares
    cpu = samples[-1][3] if samples and samples[-1][3] is not None else None

    rows = [
        ("command", f"`{' '.join(shlex.quote(c) for c in ['livebg'] + cmd[3:])}`"),
        ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}"),
        ("duration asked / wall", f"{a.minutes:g} min / {wall / 60:.1f} min (exit status {rc})"),
        ("RSS first sample / at 1 min / end / peak",
         f"{fmt_mb(samples[0][1] if samples else None)} / {fmt_mb(rss_start)} / {fmt_mb(rss_end)} / {fmt_mb(peak)}"),
        ("RSS trend after 1 min", "-" if growth is None else f"{growth:+.1f} MB per hour (least squares over "
                                                                f"{len(warm)} samples)"),
        ("threads at the end", str(samples[-1][2]) if samples else "-"),
        ("CPU time", "-" if cpu is None else f"{cpu:.0f} s ({cpu / max(wall, 1e-9) * 100:.0f}% of one CPU)"),
        ("machine load average (1, 5, 15 min) at the end", " / ".join(f"{x:.1f}" for x in os.getloadavg())
         + f" on {os.cpu_count()} CPUs"),
        ("frames out (livebg's count) / expected",
         f"{summary['sent']} / {expected} ({int(summary['sent']) / expected * 100:.2f}%), {summary['fps']} fps"
         if summary else "no summary line"),
        ("frames at the virtual camera", "-" if vcam_frames is None else
         f"{vcam_frames} ({vcam_frames / expected * 100:.2f}% of expected); longest gap {max_gap * 1000:.0f} ms"),
        ("repeated frames (no new picture in time)",
         f"{summary['repeated']} ({int(summary['repeated']) / max(int(summary['sent']), 1) * 100:.1f}% of frames out)"
         if summary else "-"),
        ("captured / dropped at capture", f"{summary['captured']} / {summary['dropped']}" if summary else "-"),
        ("latency p50 / p95", f"{summary['p50']} ms / {summary['p95']} ms" if summary else "-"),
        ("mattes", f"{summary['mattes']} ({int(summary['mattes']) / float(summary['elapsed']):.1f} per second)"
         if summary else "-"),
        ("recording: livebg's count", "-" if not recorded else
         f"{recorded['frames']} frames" + (f", {recorded['dropped']} dropped by the encoder" if recorded['dropped']
                                           else "")),
        ("recording read back (PyAV, every frame)",
         f"{decoded} frames decoded, {'to the end' if decode_error is None else 'stopped: ' + decode_error}; "
         f"{(rec.stat().st_size / 1e6) if rec.exists() else 0:.1f} MB; "
         f"{scan.fragments if scan else 0} fragments holding {scan.frames if scan else 0} frames"),
        ("recording complete (every frame it took decodes; taken + dropped = frames out)",
         "yes" if recorded and decode_error is None and decoded == int(recorded["frames"]) and summary
         and abs(decoded + int(recorded["dropped"] or 0) - int(summary["sent"])) <= 2 else "NO"),
        ("warnings / errors logged", str(len(errors)) + ("" if not errors else ": " + " | ".join(errors[:3]))),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    series = ", ".join(f"{s[0] / 60:.0f} min {s[1] / 1024:.0f}" for s in samples[:: max(1, len(samples) // 20)])
    text = (f"# livebg soak test\n\n{time.strftime('%Y-%m-%d %H:%M')}, `python bench/soak.py "
            f"{' '.join(shlex.quote(x) for x in sys.argv[1:])}`\n\n{table}\n\n"
            f"RSS samples (MB), every {a.sample:g} s, shown about 20: {series}\n")
    print()
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(f"soak: written to {a.out}")
    if not a.workdir:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if rc == 0 else 1


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
