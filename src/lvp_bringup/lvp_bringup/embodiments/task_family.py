"""Which task family a demonstration shows, read from the hand's motion in the plan.

The families are the motions the embodiments map differently (`TaskFamily`): lift (grasp and
raise), place (grasp, carry, set down and let go), push (touch the object's side and keep
contact along a stroke at the object's height) and press (a pointing finger pushes down on it).
The evidence, all from a base-frame wrist path with its finger keypoints (ROS-free):

- pointing: the index fingertip's distance from the wrist over the middle fingertip's, in the
  plan's most pointing stretch (an extended index over curled fingers reads ~1.3-1.7, a flat,
  power or pinch hand ~0.9-1.0), from the detector's 3D landmarks where given; finger keypoints
  are hand-relative, so the monocular depth error of the wrist does not touch them;
- carry: after the contact the hand rises by more than RISE and comes back down to the contact
  height (within LOW) this far (horizontally) from where it picked the object up;
- stroke: the horizontal span of the stretch around the contact during which the hand stays
  within LOW of the contact height (a push slides the object along the table, a lift leaves
  straight up).

The contact is the hand's arrival at the object it approaches (`ee_mapping.approached_object`)
when a scene cloud is known, else its lowest point. The task sentence only breaks ties: when
every feature lies within its margin of a threshold, a family named by the sentence's verbs wins.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from lvp_common.artifacts import WristTrajectory
from scipy.ndimage import median_filter

from lvp_bringup.embodiments.ee_mapping import INDEX_TIP, MIDDLE_TIP, hand_grasp_points


class TaskFamily(str, enum.Enum):
    LIFT = 'lift'
    PLACE = 'place'
    PUSH = 'push'
    PRESS = 'press'


POINTING_RATIO = 1.15
"""Index over middle fingertip distance from the wrist above which the hand points (press)."""
CARRY_DISTANCE = 0.07
"""Horizontal distance (m) between pick-up and set-down above which a grasp is a place."""
STROKE_SPAN = 0.13
"""Horizontal span (m) of the low stretch around the contact above which the motion is a push."""
LOW = 0.035
RISE = 0.04
"""Heights (m) above the contact: LOW still at the object, RISE clearly lifted."""
HEIGHT_FILTER = 5
"""Frames of the running median the hand's heights are read through."""
POINTING_FRAMES = 9
"""Frames of the running median the pointing ratio is read through."""
MARGINS = {'pointing': 0.07, 'carry': 0.03, 'stroke': 0.03}
"""How near its threshold (same units) a feature leaves the decision to the sentence."""

FAMILY_VERBS = {
    TaskFamily.PRESS: ('press', 'push the button', 'poke', 'tap', 'click'),
    TaskFamily.PUSH: ('push', 'slide', 'nudge', 'shove', 'sweep'),
    TaskFamily.PLACE: ('place', 'put', 'set', 'move', 'stack', 'drop', 'into', 'onto'),
    TaskFamily.LIFT: ('pick', 'lift', 'raise', 'grab', 'grasp', 'take', 'hold'),
}
"""Sentence cues per family, tried in this order (a 'push ... button' is a press)."""


class TaskFamilyError(ValueError):
    """The path cannot be classified (too short, no finger keypoints)."""


@dataclass(frozen=True)
class FamilyDecision:
    """The family, the contact time (s, plan clock) it was read at, the features and why."""

    family: TaskFamily
    contact_time: float
    features: dict[str, float] = field(default_factory=dict)
    from_sentence: bool = False
    reason: str = ''


def family_from_sentence(prompts: tuple[str, ...] | list[str]) -> TaskFamily | None:
    """The family the task sentence names by its verbs, or None."""
    text = ' '.join(prompts).lower()
    if 'button' in text and any(v in text for v in ('push', 'press')):
        return TaskFamily.PRESS
    words = text.replace(',', ' ').split()
    for family, verbs in FAMILY_VERBS.items():
        for verb in verbs:
            if (' ' in verb and verb in text) or any(w.startswith(verb) for w in words):
                return family
    return None


def _low_span(points: np.ndarray, k: int, low: float) -> float:
    """Horizontal span (m) of the contiguous stretch around index `k` within `low` above it."""
    is_low = points[:, 2] <= points[k, 2] + low
    a = b = k
    while a > 0 and is_low[a - 1]:
        a -= 1
    while b < len(points) - 1 and is_low[b + 1]:
        b += 1
    seg = points[a:b + 1, :2]
    return float(np.max(np.linalg.norm(seg[:, None] - seg[None], axis=2)))


def _carry(points: np.ndarray, k: int) -> float:
    """Farthest horizontal distance (m) from the pick-up at which the hand, having risen RISE
    after index `k`, is back down within LOW of the contact height (0 if it never is)."""
    z = points[:, 2] - points[k, 2]
    risen = np.flatnonzero(z[k:] > RISE)
    if risen.size == 0:
        return 0.0
    later = np.arange(k + risen[0], len(points))
    back = later[z[later] <= LOW]
    if back.size == 0:
        return 0.0
    return float(np.max(np.linalg.norm(points[back, :2] - points[k, :2], axis=1)))


def family_features(wrist: WristTrajectory, contact_time: float,
                    hand_shape: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """The pointing ratio, carry (m) and stroke span (m) of a base-frame path at a contact.

    hand_shape: (times (T,) s, keypoints (T, 21, 3) m, hand-relative) the pointing ratio is read
    from, e.g. the detector's own 3D landmarks; None = the path's finger keypoints. (A hand
    model fitted to 2D keypoints under a finger prior straightens less than the detector's
    landmarks show: a press then reads as a push.)
    """
    if wrist.finger_keypoints is None:
        raise TaskFamilyError('the wrist path has no finger keypoints: the task family cannot '
                              'be read from the hand')
    k = int(np.argmin(np.abs(wrist.times - contact_time)))
    kp = wrist.finger_keypoints if hand_shape is None else hand_shape[1]
    rel = np.asarray(kp) - np.asarray(kp)[:, :1]  # from the wrist landmark
    ratio = (np.linalg.norm(rel[:, INDEX_TIP], axis=1)
             / np.maximum(np.linalg.norm(rel[:, MIDDLE_TIP], axis=1), 1e-6))
    # the most pointing 9-frame stretch of the plan, not only around the contact: a contact
    # read off by a few frames (the hand's depth error) fell where the finger was not out yet
    pointing = float(np.max(median_filter(ratio, size=POINTING_FRAMES, mode='nearest')))
    points = hand_grasp_points(wrist)
    # A reconstructed height spikes for a frame or two (a depth glitch): a push would break
    # into pieces and seem to rise; a carry lasts longer.
    points[:, 2] = median_filter(points[:, 2], size=HEIGHT_FILTER, mode='nearest')
    return {'pointing': pointing, 'carry': _carry(points, k),
            'stroke': _low_span(points, k, LOW)}


def classify_task_family(wrist: WristTrajectory, contact_time: float | None = None,
                         prompts: tuple[str, ...] = (),
                         hand_shape: tuple[np.ndarray, np.ndarray] | None = None
                         ) -> FamilyDecision:
    """Decide the task family from the hand's motion; the sentence (`prompts`) breaks ties.

    contact_time: when the hand reached the object (s); None = the hand's lowest point.
    hand_shape: see `family_features`.
    """
    if wrist.num_frames < 4:
        raise TaskFamilyError(f'a wrist path of {wrist.num_frames} frames is too short to read '
                              f'a task family from (needs >= 4)')
    if contact_time is None:
        contact_time = float(wrist.times[int(np.argmin(hand_grasp_points(wrist)[:, 2]))])
    f = family_features(wrist, contact_time, hand_shape)
    thresholds = {'pointing': POINTING_RATIO, 'carry': CARRY_DISTANCE, 'stroke': STROKE_SPAN}
    if f['pointing'] >= POINTING_RATIO:
        family, deciding = TaskFamily.PRESS, 'pointing'
    elif f['carry'] >= CARRY_DISTANCE:
        family, deciding = TaskFamily.PLACE, 'carry'
    elif f['stroke'] >= STROKE_SPAN:
        family, deciding = TaskFamily.PUSH, 'stroke'
    else:
        family, deciding = TaskFamily.LIFT, 'stroke'
    described = ', '.join(f'{name} {value:.3f} (threshold {thresholds[name]:.2f})'
                          for name, value in f.items())
    reason = f'{family.value} from the hand: {described}'
    # Ties: the deciding feature (and, for a lift, none of the others) near its threshold.
    near = [name for name in f if abs(f[name] - thresholds[name]) < MARGINS[name]]
    said = family_from_sentence(prompts)
    if near and said is not None and said is not family and (
            deciding in near or family is TaskFamily.LIFT):
        return FamilyDecision(said, float(contact_time), f, True,
                              f'{said.value} from the sentence: the hand\'s evidence is '
                              f'ambiguous ({", ".join(near)} near the threshold; {described})')
    return FamilyDecision(family, float(contact_time), f, False, reason)


def detector_shape(hand_track) -> tuple[np.ndarray, np.ndarray] | None:
    """The `hand_shape` of a plan's HandTrack (its frame times and the detector's 3D
    landmarks), or None without one."""
    if hand_track is None:
        return None
    return np.asarray(hand_track.times), np.asarray(hand_track.keypoints_m)
