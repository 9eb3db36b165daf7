"""The crop tracker: where the model looks, with hysteresis."""

from __future__ import annotations

import numpy as np

from livebg.refine.tracking import PersonTracker


def blob(h=90, w=160, box=(20, 60, 60, 100)):
    a = np.zeros((h, w), np.float32)
    y0, x0, y1, x1 = box
    a[y0:y1, x0:x1] = 1.0
    return a


def test_tracker_looks_at_whole_frame_until_it_has_seen_someone():
    t = PersonTracker()
    assert t.needs_full_look()
    assert t.crop(1280, 720) == (0, 0, 1280, 720)


def test_tracker_crops_around_the_person_and_holds_still():
    t = PersonTracker()
    t.needs_full_look()
    a = blob()
    t.update(a, (0, 0, 1280, 720), (1280, 720))
    x0, y0, x1, y1 = t.crop(1280, 720)
    # The person spans x 60..100 of 160 (480..800 px) and y 20..60 of 90 (160..480 px).
    assert x0 < 480 and x1 > 800 and y0 < 160 and y1 > 480
    assert (x1 - x0) < 1280  # a real crop, not the frame
    # Small movements inside the crop do not move it (hysteresis: no flicker).
    moves = t.moves
    for dx in (1, -1, 1, 0):  # within the slack: 4% of the 40-unit box, less the 2% margin, each side
        t.update(np.roll(a, dx, axis=1), (x0, y0, x1, y1), (1280, 720))
    assert t.crop(1280, 720) == (x0, y0, x1, y1) and t.moves == moves


def test_tracker_follows_a_person_who_leaves_the_crop():
    t = PersonTracker()
    t.needs_full_look()
    t.update(blob(), (0, 0, 1280, 720), (1280, 720))
    crop = t.crop(1280, 720)
    t.update(blob(box=(20, 10, 60, 50)), crop, (1280, 720))  # moved far left
    x0, _, x1, _ = t.crop(1280, 720)
    assert x0 < 80 and x1 > 400


def test_tracker_forgets_when_nobody_is_there():
    t = PersonTracker()
    t.update(blob(), (0, 0, 1280, 720), (1280, 720))
    t.update(np.zeros((90, 160), np.float32), t.crop(1280, 720), (1280, 720))
    assert t.crop(1280, 720) == (0, 0, 1280, 720)
