"""Head pose angles from MediaPipe's facial transformation matrix.

The matrix maps the canonical face model into camera space (a rotation, a translation and
possibly a uniform scale). We read it as R = Rz(roll) . Ry(yaw) . Rx(pitch), the
OpenFace pose_Rx/Ry/Rz convention, in degrees: 0, 0, 0 is a face looking into the camera.
"""

from __future__ import annotations

import math

import numpy as np


def pose_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) in degrees, float32, from a 4x4 (or 3x3) transformation matrix."""
    m = np.asarray(matrix, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    norms[norms == 0] = 1.0
    r = m / norms  # drop any scale
    sy = math.hypot(r[0, 0], r[1, 0])
    if sy > 1e-6:
        pitch = math.atan2(r[2, 1], r[2, 2])
        yaw = math.atan2(-r[2, 0], sy)
        roll = math.atan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: yaw at +-90 degrees
        pitch = math.atan2(-r[1, 2], r[1, 1])
        yaw = math.atan2(-r[2, 0], sy)
        roll = 0.0
    return np.degrees(np.array([pitch, yaw, roll])).astype(np.float32)


def matrix_from_pose(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The rotation for given angles in degrees (the inverse of ``pose_from_matrix``)."""
    a, b, c = (math.radians(v) for v in (pitch, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx
