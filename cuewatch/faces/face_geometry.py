"""Head pose from landmarks: MediaPipe's face geometry pipeline, for the ``litert`` engine.

The bundle's ``geometry_pipeline_metadata_landmarks.binarypb`` holds the canonical face
(478 vertices in centimetres) and the weighted landmarks a weighted orthogonal Procrustes
fit uses. As in MediaPipe's geometry pipeline (perspective camera with a 63 degree
vertical field of view, near plane 1), the screen landmarks are lifted into metric space
in two rounds of scale estimation, then fitted to the canonical face; the fit's rotation
is the head pose (``cuewatch.faces.head_pose.pose_from_matrix`` reads its angles).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from cuewatch.errors import ModelError
from cuewatch.faces.finding import read_bundle_member

GEOMETRY_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"
#: MediaPipe's virtual camera for the face geometry pipeline.
VERTICAL_FOV_DEG = 63.0
NEAR_PLANE = 1.0
#: floats per canonical mesh vertex (x, y, z, u, v).
_VERTEX_FLOATS = 5


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message: the subset this file uses."""
    out: list[tuple[int, int, object]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, wire, value))
        elif wire == 2:
            n, i = _varint(buf, i)
            out.append((number, wire, buf[i:i + n]))
            i += n
        elif wire == 5:
            out.append((number, wire, struct.unpack_from("<f", buf, i)[0]))
            i += 4
        elif wire == 1:
            out.append((number, wire, struct.unpack_from("<d", buf, i)[0]))
            i += 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return out


def parse_metadata(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(canonical landmarks (3, N), Procrustes weights (N,)) from the metadata message.

    GeometryPipelineMetadata: canonical_mesh = 1 (Mesh3d: vertex_buffer = 3, packed
    floats, 5 per vertex), procrustes_landmark_basis = 2 (landmark_id = 1, weight = 2).
    """
    vertices: list[float] = []
    basis: list[tuple[int, float]] = []
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            assert isinstance(value, bytes)
            for n, w, v in _fields(value):
                if n == 3 and w == 2:
                    assert isinstance(v, bytes)
                    vertices += struct.unpack(f"<{len(v) // 4}f", v)
                elif n == 3 and w == 5:
                    assert isinstance(v, float)
                    vertices.append(v)
        elif number == 2 and wire == 2:
            assert isinstance(value, bytes)
            ref = {n: v for n, _w, v in _fields(value)}
            landmark, weight = ref.get(1, 0), ref.get(2, 0.0)
            assert isinstance(landmark, int) and isinstance(weight, float)
            basis.append((landmark, weight))
    mesh = np.array(vertices, dtype=np.float64).reshape(-1, _VERTEX_FLOATS)[:, :3].T
    weights = np.zeros(mesh.shape[1])
    for landmark, weight in basis:
        weights[landmark] = weight
    return mesh, weights


class _Procrustes:
    """MediaPipe's weighted orthogonal Procrustes fit of fixed source points onto targets.

    The source (the canonical face) never changes, so its weighted, centred form is
    computed once; each fit is then one 3x3 SVD.
    """

    def __init__(self, source: np.ndarray, weights: np.ndarray) -> None:
        self.sqrt_w = np.sqrt(weights)
        self.total = float(weights.sum())
        self.ws = source * self.sqrt_w
        centre = (self.ws * self.sqrt_w).sum(1) / self.total
        self.centred = self.ws - centre[:, None] * self.sqrt_w[None, :]
        self.denominator = float(np.sum(self.centred * self.ws))

    def fit(self, target: np.ndarray) -> np.ndarray:
        """4x4 similarity transform taking the source onto ``target`` (3, N)."""
        wt = target * self.sqrt_w
        u, _s, vt = np.linalg.svd(wt @ self.centred.T)
        rotation = u @ vt
        if np.linalg.det(rotation) < 0:
            u[:, 2] *= -1
            rotation = u @ vt
        scale = float(np.sum((rotation @ self.centred) * wt)) / self.denominator
        rs = scale * rotation
        out = np.eye(4)
        out[:3, :3] = rs
        out[:3, 3] = ((wt - rs @ self.ws) * self.sqrt_w).sum(1) / self.total
        return out


class FaceGeometry:
    """The pose transform of the canonical face for landmarks on an image of given size."""

    def __init__(self, model_path: Path) -> None:
        try:
            canonical, weights = parse_metadata(read_bundle_member(model_path, GEOMETRY_MEMBER))
        except (ValueError, IndexError, struct.error) as exc:
            raise ModelError(f"{model_path}: unreadable face geometry metadata ({exc})") from exc
        self.canonical = canonical
        nonzero = weights > 0
        self._ids = np.nonzero(nonzero)[0]
        self._fit = _Procrustes(canonical[:, nonzero], weights[nonzero]).fit

    def pose_matrix(self, landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
        """4x4 transform from landmarks normalised to a ``width`` x ``height`` image
        (x, y in 0..1 from the top left, z on the x scale), as MediaPipe computes it.

        Only the weighted landmarks enter the fits (the others have weight 0), so only
        they are lifted; the depth offset is the mean over all landmarks, as there."""
        height_at_near = 2.0 * NEAR_PLANE * math.tan(0.5 * math.radians(VERTICAL_FOV_DEG))
        width_at_near = width * height_at_near / height
        left, bottom = -0.5 * width_at_near, -0.5 * height_at_near
        points = np.asarray(landmarks, dtype=np.float64)
        depth_offset = float(points[:, 2].mean()) * width_at_near
        screen = points[self._ids].T.copy()
        screen[1] = 1.0 - screen[1]
        screen *= np.array([width_at_near, height_at_near, width_at_near])[:, None]
        screen[0] += left
        screen[1] += bottom

        def lifted(scale: float) -> np.ndarray:
            out = screen.copy()
            out[2] = (out[2] - depth_offset + NEAR_PLANE) / scale
            out[0] = out[0] * out[2] / NEAR_PLANE
            out[1] = out[1] * out[2] / NEAR_PLANE
            out[2] *= -1.0
            return out

        flipped = screen.copy()
        flipped[2] *= -1.0
        first = float(np.linalg.norm(self._fit(flipped)[:3, 0]))
        second = float(np.linalg.norm(self._fit(lifted(first))[:3, 0]))
        return self._fit(lifted(first * second))
