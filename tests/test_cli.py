"""The command line as a user types it: mistakes answered with what was meant,
and choices that come from where they are defined (the model manifest, the
provider list), so the command line cannot drift from them."""

from __future__ import annotations

import re

import pytest

from conftest import run_livebg
from livebg import models


def _one_error_line(r) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livebg"), r.stderr
    return lines[0]


@pytest.mark.parametrize("args, hint", [
    (["process", "in.mp4", "-o", "o.mp4", "--backgrund", "blur"], "--backgrund: did you mean --background?"),
    (["process", "in.mp4", "-o", "o.mp4", "--matte-otu=m.mkv"], "--matte-otu: did you mean --matte-out?"),
    (["run", "--mirorr", "--duraton", "3"], "--mirorr: did you mean --mirror?; --duraton: did you mean --duration?"),
    (["cutout", "a.jpg", "-o", "b.png", "--shaddow"], "--shaddow: did you mean --shadow?"),
    (["proces", "in.mp4"], "invalid choice: 'proces' (did you mean 'process'?"),
    (["models", "lst"], "invalid choice: 'lst' (did you mean 'list'?"),
])
def test_mistyped_options_and_commands_suggest_the_closest(tmp_path, args, hint):
    """(Once: `unrecognized arguments: --backgrund blur`, nothing more.)"""
    line = _one_error_line(run_livebg(*args, cwd=tmp_path))
    assert hint in line, line


def test_an_option_of_another_command_is_not_suggested(tmp_path):
    """Suggestions come from the command given: `run` has no --overwrite."""
    line = _one_error_line(run_livebg("run", "--overwrit", cwd=tmp_path))
    assert "unrecognized arguments: --overwrit" in line and "did you mean" not in line


def test_model_choices_come_from_the_manifest(tmp_path):
    """--help lists the manifest's models, and a mistyped name gets the closest
    one and the whole list: for the command line and a config file alike."""
    names = list(models.load_manifest())
    import os

    r = run_livebg("process", "--help", env=dict(os.environ, COLUMNS="400"))  # no line breaks inside names
    helptext = re.sub(r"\s+", " ", r.stdout)
    assert all(name in helptext for name in names), helptext
    r = run_livebg("process", "in.mp4", "-o", "o.mp4", "--model", "modnett", cwd=tmp_path)
    line = _one_error_line(r)
    assert "unknown model 'modnett'; did you mean modnet?" in line
    assert f"known models: auto, {', '.join(names)};" in line
    (tmp_path / "c.toml").write_text('model = "mediapipe-selfi"\n')
    line = _one_error_line(run_livebg("process", "in.mp4", "-o", "o.mp4", "--config", tmp_path / "c.toml",
                                      cwd=tmp_path))
    assert "did you mean mediapipe-selfie?" in line
    r = run_livebg("models", "fetch", "modnett", cwd=tmp_path)
    assert r.returncode == 1 and "did you mean modnet?" in r.stderr


@pytest.mark.parametrize("command", [("run", "--no-tray", "--no-vcam", "--duration", "1", "--input", "{clip}"),
                                     ("process", "{clip}", "-o", "{out}"),
                                     ("cutout", "{picture}", "-o", "{png}")])
@pytest.mark.parametrize("provider, phrase, code", [
    ("banana", "unknown --provider 'banana' (choose from auto, cpu, cuda, directml, coreml)", 2),
    ("cdua", "unknown --provider 'cdua'; did you mean cuda?", 2),
    ("coreml", "--provider coreml is not in this onnxruntime build", 1),  # Linux: never built with CoreML
])
def test_provider_is_checked_the_same_everywhere(tmp_path, command, provider, phrase, code):
    """run and process once ignored a provider that cutout refused: now the same check, before any work."""
    from clips import SHARED, person_frames, write_clip

    clip = write_clip(tmp_path / "clip.mp4", person_frames(3, 320, 180)[0], fps=15)
    subs = {"{clip}": str(clip), "{out}": str(tmp_path / "o.mp4"), "{png}": str(tmp_path / "o.png"),
            "{picture}": str(SHARED / "eval" / "images" / "p_07141906.jpg")}
    args = [subs.get(a, a) for a in command]
    r = run_livebg(*args, "--provider", provider, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("livebg: error:")]
    assert len(errors) == 1 and phrase in errors[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_devices_lists_the_providers_that_really_start():
    """Not every provider onnxruntime lists (it lists CUDA without a GPU, and TensorRT,
    which livebg never uses): those a session really starts on, as onnxruntime says."""
    import onnxruntime as ort

    r = run_livebg("devices")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Tensorrt" not in out and "not used by livebg" not in out
    section = out.split("ONNX Runtime providers that start here", 1)[1].split("models:", 1)[0]
    starting = [ln.split()[0] for ln in section.splitlines()[1:] if ln.startswith("  ") and "installed but" not in ln]
    assert starting[-1] == "cpu"
    cuda_starts = False
    if "CUDAExecutionProvider" in ort.get_available_providers():
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        s = ort.InferenceSession(str(models.find_present("mediapipe-selfie-onnx")), sess_options=opts,
                                 providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        cuda_starts = s.get_providers()[0] == "CUDAExecutionProvider"
        assert ("cuda" in starting) == cuda_starts
        assert ("not starting here" in section and "cuda" in section.split("not starting here")[1]) != cuda_starts
    assert section.splitlines()[1].endswith("(what --provider auto takes)")
    assert section.splitlines()[1].split()[0] == ("cuda" if cuda_starts else "cpu")
    # And what --model auto takes here, for each use, with its reason (RVM is present in the test models).
    auto = out.split("--model auto here", 1)[1].splitlines()
    assert auto[1].startswith("  livebg run, 1280x720 at 30 fps: picked ")
    assert auto[2].startswith("  livebg process and cutout: picked rvm on ")


def test_models_list_marks_the_default():
    r = run_livebg("models", "list")
    assert r.returncode == 0, r.stderr
    rows = {ln.split()[0]: ln for ln in r.stdout.splitlines()[1:]}
    assert "(auto: first choice)" in rows["rvm"] and "(auto: light default)" in rows["mediapipe-selfie-onnx"]
    assert "(auto: fallback)" in rows["mediapipe-selfie"]
    assert sum("(auto:" in ln for ln in rows.values()) == 3
    assert set(rows) == set(models.load_manifest())
