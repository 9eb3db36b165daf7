"""`livebg bench`: where every millisecond of the live path goes.

The live pipeline runs as with `livebg run` (by default with no virtual
camera, into a sink that discards frames) and at the end this reports, per
stage, the median and 95th percentile time, plus frames per second,
capture-to-output latency, dropped and repeated frames, CPU use and peak
memory, as a table and as JSON that can be compared between commits.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time

import numpy as np

from livebg import __version__


#: How the refiners' timing keys read in the report.
STEP_NAMES = {"model": "model", "smoothing": "smoothing", "edge": "edge refinement"}


def _ms(values) -> dict:
    v = np.array(list(values), dtype=np.float64) * 1000
    if v.size == 0:
        return {"median_ms": None, "p95_ms": None, "n": 0}
    return {"median_ms": round(float(np.median(v)), 3), "p95_ms": round(float(np.percentile(v, 95)), 3),
            "n": int(v.size)}


class CpuClock:
    """Process CPU seconds (all threads) between start and stop."""

    def __init__(self):
        self.t0 = os.times()
        self.w0 = time.monotonic()

    def usage(self) -> dict:
        t = os.times()
        cpu = (t.user - self.t0.user) + (t.system - self.t0.system)
        wall = time.monotonic() - self.w0
        return {"cpu_seconds": round(cpu, 2), "cpu_percent_of_one_core": round(100 * cpu / max(wall, 1e-9), 1),
                "cores": os.cpu_count()}


def collect(pipeline, settings, cpu: CpuClock) -> dict:
    """Everything `livebg bench` reports, as plain data."""
    stage = pipeline.stage
    refiner = stage.refiner
    st = pipeline.stats
    lat = np.array(list(st.latency), dtype=np.float64) * 1000
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    if platform.system() == "Darwin":
        peak_kb //= 1024
    elapsed = pipeline.elapsed
    return {
        "livebg": __version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, Python {sys.version.split()[0]}",
        "settings": {"input": settings.input, "model": stage.model_name, "runtime": stage.matter.runtime,
                     "background": stage.background.describe(), "size": f"{pipeline.width}x{pipeline.height}",
                     "fps": pipeline.fps, "matte_size": stage.matte_size},
        "stages": {
            "capture (decode, scale)": _ms(pipeline.timings["capture"]),
            **{f"matting: {STEP_NAMES.get(k, k)}": _ms(v) for k, v in refiner.timings.items()},
            "matting: total": _ms(stage.timings["matting"]),
            "matte carried to the newer frame": _ms(pipeline.timings["carry"]),
            "compositing": _ms(stage.timings["compositing"]),
            "sinks (virtual camera, recorder queue)": _ms(pipeline.timings["sinks"]),
        },
        "seconds": round(elapsed, 2),
        "output_fps": round(st.sent / max(elapsed, 1e-9), 2),
        "new_frames_fps": round(st.processed / max(elapsed, 1e-9), 2),
        "mattes_per_second": round(st.mattes / max(elapsed, 1e-9), 2),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
                       "p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None},
        "frames": {"captured": st.captured, "dropped_at_capture": pipeline.dropped, "sent": st.sent,
                   "repeated": st.repeated, "repeated_by_input_rate": st.repeated_by_input,
                   "input_fps": round(st.input_fps, 3), "startup": st.startup},
        "cpu": cpu.usage(),
        "peak_memory_mb": round(peak_kb / 1024, 1),
    }


def table(r: dict) -> str:
    s = r["settings"]
    lines = [f"livebg {r['livebg']} bench, {r['date']}, {r['machine']}",
             f"{s['size']} at {s['fps']:g} fps, model {s['model']} on {s['runtime']}, background {s['background']}",
             "", f"{'stage':42} {'median ms':>10} {'p95 ms':>8}"]
    for name, v in r["stages"].items():
        if v["n"]:
            lines.append(f"{name:42} {v['median_ms']:>10.2f} {v['p95_ms']:>8.2f}")
    f = r["frames"]
    lines += ["",
              f"output {r['output_fps']} fps ({f['repeated']} of {f['sent']} frames repeated"
              + (f", and {f['repeated_by_input_rate']} more by the input's own {f['input_fps']:g} fps"
                 if f.get("repeated_by_input_rate") else "")
              + f"), new frames {r['new_frames_fps']} fps, mattes {r['mattes_per_second']}/s",
              f"latency capture to output p50 {r['latency_ms']['p50']} ms, p95 {r['latency_ms']['p95']} ms; "
              f"{f['dropped_at_capture']} frames dropped at capture",
              f"CPU {r['cpu']['cpu_percent_of_one_core']}% of one core ({r['cpu']['cores']} cores), "
              f"peak memory {r['peak_memory_mb']} MB"]
    return "\n".join(lines)


def report(pipeline, settings, cpu: CpuClock, json_path: str | None) -> dict:
    r = collect(pipeline, settings, cpu)
    print(table(r))
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(r, fh, indent=1)
    return r
