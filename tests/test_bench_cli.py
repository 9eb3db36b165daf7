"""`livebg bench`: the live path measured per stage, with the MODNet code path
exercised through the MODNet-shaped speed proxy (random weights: only its
speed and interface mean anything)."""

from __future__ import annotations

import json

from clips import SHARED, person_frames, write_clip
from conftest import run_livebg

PROXY = SHARED / "perf-proxy" / "modnet_arch_random_weights.onnx"


def test_bench_reports_every_stage_as_json(tmp_path):
    frames, _ = person_frames(30, width=640, height=360)
    clip = write_clip(tmp_path / "c.mp4", frames)
    out = tmp_path / "b.json"
    r = run_livebg("bench", "--input", clip, "--duration", 4, "--width", 640, "--height", 360, "--json", out,
                   "--model", "mediapipe-selfie-onnx")
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    for stage in ("capture (decode, scale)", "matting: model", "matting: edge refinement", "compositing"):
        assert d["stages"][stage]["n"] > 10 and d["stages"][stage]["median_ms"] > 0
    # Speed itself is measured in bench/, not asserted here: only that it was measured.
    assert d["output_fps"] > 0 and d["new_frames_fps"] > 0
    assert d["frames"]["sent"] > 30 and d["cpu"]["cpu_seconds"] > 0 and d["peak_memory_mb"] > 50
    assert "median ms" in r.stdout and "latency" in r.stdout


def test_modnet_proxy_runs_live_and_reports_its_matting_size(tmp_path):
    frames, _ = person_frames(30, width=640, height=360)
    clip = write_clip(tmp_path / "c.mp4", frames)
    out = tmp_path / "b.json"
    r = run_livebg("bench", "--input", clip, "--duration", 6, "--width", 640, "--height", 360,
                   "--model", PROXY, "--json", out)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["settings"]["model"] == str(PROXY)  # a model file is named by its path, which opens it again
    assert d["settings"]["matte_size"] in (512, 448, 384, 320, 256, 224, 192, 160)
    assert d["mattes_per_second"] > 0 and d["frames"]["sent"] > 30
    assert "matting settled at" in r.stderr


def test_rvm_runs_live_its_mattes_carried_to_the_frames_between(tmp_path):
    """Robust Video Matting live: it mattes every frame it can, and every frame it
    did not matte gets the newest matte moved along the motion."""
    frames, _ = person_frames(30, width=640, height=360)
    clip = write_clip(tmp_path / "c.mp4", frames)
    out = tmp_path / "b.json"
    r = run_livebg("bench", "--input", clip, "--duration", 6, "--width", 640, "--height", 360,
                   "--model", "rvm", "--json", out)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["settings"]["model"] == "rvm" and d["settings"]["matte_size"] in (640, 576, 512, 448, 384, 320, 256)
    assert d["stages"]["matting: model"]["n"] > 5 and d["mattes_per_second"] > 0
    carried = d["stages"]["matte carried to the newer frame"]["n"]
    assert carried + d["mattes_per_second"] * d["seconds"] >= 0.5 * d["frames"]["captured"]
