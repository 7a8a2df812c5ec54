"""A simple kinematic human hand giving MediaPipe-order keypoints for known poses.

Tests reach it through the `hand_model` fixture (this module).

Proportions from SYNTHETIC_HANDS.md (cm): hand frame +y wrist -> fingers, +x towards the thumb,
+z palm normal (fingers curl towards +z). A right hand; the left hand mirrors x.
"""

from __future__ import annotations

import functools
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.optimize import minimize

KNUCKLES_CM = {'index': (2.75, 8.6), 'middle': (0.95, 9.0), 'ring': (-0.85, 8.6),
               'little': (-2.55, 7.8)}
PHALANGES_CM = {'index': (4.2, 2.5, 2.1), 'middle': (4.5, 2.8, 2.2), 'ring': (4.2, 2.7, 2.1),
                'little': (3.4, 2.0, 1.9)}
THUMB_BASE_CM = np.array([2.1, 2.3, 0.9])
THUMB_SEGMENTS_CM = (4.4, 3.2, 2.8)
FINGER_ORDER = ('index', 'middle', 'ring', 'little')


@dataclass(frozen=True)
class HandPose:
    """Finger flexion (MCP, PIP, DIP) rad per finger, and the thumb's angles (rad).

    thumb_azimuth: the thumb metacarpal's angle in the palm plane from +x (towards the fingers is
    positive); thumb_elevation: its tilt towards the palm side (+z); thumb_flexion: bend of the
    two distal thumb joints towards the palm.
    """

    flexion: dict[str, tuple[float, float, float]]
    thumb_azimuth: float = 0.6
    thumb_elevation: float = 0.1
    thumb_flexion: tuple[float, float] = (0.05, 0.05)


def _finger(knuckle_xy, lengths, angles) -> list[np.ndarray]:
    point = np.array([knuckle_xy[0], knuckle_xy[1], 0.0])
    points = [point]
    total = 0.0
    for length, angle in zip(lengths, angles):
        total += angle
        point = point + length * np.array([0.0, np.cos(total), np.sin(total)])
        points.append(point)
    return points


def _thumb(azimuth: float, elevation: float, flexion) -> list[np.ndarray]:
    d = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                  np.sin(elevation)])
    # Thumb joints bend towards the palm: the bend direction is +z with the across-palm part.
    towards_palm = np.array([-0.6, 0.2, 1.0])
    points = [THUMB_BASE_CM.copy()]
    point = THUMB_BASE_CM + THUMB_SEGMENTS_CM[0] * d
    points.append(point)
    for length, angle in zip(THUMB_SEGMENTS_CM[1:], flexion):
        bend = towards_palm - np.dot(towards_palm, d) * d
        bend /= np.linalg.norm(bend)
        d = np.cos(angle) * d + np.sin(angle) * bend
        point = point + length * d
        points.append(point)
    return points


def hand_keypoints(pose: HandPose, left: bool = False) -> np.ndarray:
    """Return (21, 3) MediaPipe-order keypoints in metres in the hand frame."""
    points = [np.zeros(3)] + _thumb(pose.thumb_azimuth, pose.thumb_elevation, pose.thumb_flexion)
    for finger in FINGER_ORDER:
        points += _finger(KNUCKLES_CM[finger], PHALANGES_CM[finger], pose.flexion[finger])
    kp = np.stack(points) / 100.0
    if left:
        kp[:, 0] *= -1.0
    return kp


def open_hand() -> HandPose:
    return HandPose({f: (0.0, 0.0, 0.0) for f in FINGER_ORDER}, 0.7, 0.1, (0.0, 0.0))


@functools.lru_cache(maxsize=1)
def fist() -> HandPose:
    """All fingers curled; the thumb tip rests on the index and middle middle phalanges."""
    flex = {f: (1.45, 1.6, 0.9) for f in FINGER_ORDER}
    return HandPose(flex, *_thumb_reaching(np.array([1.2, 8.0, 5.2])))


def half_closed(fraction: float) -> HandPose:
    """Blend from the open hand (0) to the fist (1)."""
    a, b = open_hand(), fist()
    flex = {f: tuple((1 - fraction) * np.array(a.flexion[f]) + fraction * np.array(b.flexion[f]))
            for f in FINGER_ORDER}
    return HandPose(
        flex, (1 - fraction) * a.thumb_azimuth + fraction * b.thumb_azimuth,
        (1 - fraction) * a.thumb_elevation + fraction * b.thumb_elevation,
        tuple((1 - fraction) * np.array(a.thumb_flexion) + fraction * np.array(b.thumb_flexion)))


def _thumb_reaching(target_cm: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """Return thumb angles (azimuth, elevation, flexion) putting the thumb tip at `target_cm`."""

    def miss(params: np.ndarray) -> float:
        tip = _thumb(params[0], params[1], params[2:])[-1]
        return float(np.sum((tip - target_cm) ** 2)) + 0.01 * float(np.sum(params[2:] ** 2))

    best = minimize(miss, np.array([1.0, 0.5, 0.3, 0.3]), method='Nelder-Mead',
                    options={'xatol': 1e-6, 'fatol': 1e-8, 'maxiter': 4000})
    azimuth, elevation, f1, f2 = (float(v) for v in best.x)
    return azimuth, elevation, (f1, f2)


@functools.lru_cache(maxsize=1)
def pinch() -> HandPose:
    """Index flexed, thumb tip on the index tip, other fingers straight."""
    flex = {f: (0.0, 0.0, 0.0) for f in FINGER_ORDER}
    flex['index'] = (0.75, 0.75, 0.45)
    target = _finger(KNUCKLES_CM['index'], PHALANGES_CM['index'], flex['index'])[-1]
    return HandPose(flex, *_thumb_reaching(target))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Return a uniformly random rotation matrix."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


@pytest.fixture(scope='session')
def hand_model() -> types.ModuleType:
    """This module: the synthetic hand's poses and keypoint generator."""
    return sys.modules[__name__]
