"""Facial action units from MediaPipe blendshapes and landmark geometry, per frame.

Why both: the blendshapes are weak exactly where cuewatch needs them (they explain little
of AU15, nothing maps to AU23, and with the pinned model ``cheekSquint*`` and
``noseSneer*`` are dead, so AU6 and AU9 have no blendshape at all). Landmark geometry
carries those signals: lip-corner height against the mouth centre, brow-to-eye distance, eye
aperture, nose-wing and upper-lip height, lip thickness, chin height.

Geometry is measured in a face-fixed frame built from rigid landmarks (eye corners,
nasion, subnasale), in units of the inter-ocular distance (IOD). Rotating every frame into
that frame removes head pitch, yaw and roll without relying on any Euler convention, and
dividing by the IOD removes distance to the camera. Every measure is then taken relative
to the person's own neutral face (see :func:`neutral_reference`), because resting faces
differ far more between people than the small movements an expression makes.

Intensities are on OpenFace's 0..5 scale (the ``AUxx_r`` columns); 5 means the
``full_scale`` movement in :class:`AUSettings` or more. Pure numpy, vectorised over
frames: an hour at 15 fps (54,000 frames) takes a fraction of a second. Any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Union

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.formats import AU_NAMES, BLENDSHAPE_NAMES
from cuewatch.rule_numbers import REST_SEARCHES
from cuewatch.rule_numbers import RULES as _R

# --- landmark indices (MediaPipe face mesh; R/L are the subject's right/left) ----------
_R_EYE_OUT, _R_EYE_IN, _L_EYE_IN, _L_EYE_OUT = 33, 133, 362, 263
_NASION, _SUBNASALE = 168, 2
_R_LID_UP, _R_LID_LO = (159, 158, 160), (145, 144, 153)
_L_LID_UP, _L_LID_LO = (386, 385, 387), (374, 373, 380)
_R_BROW_IN, _L_BROW_IN = (55, 107), (285, 336)
_R_BROW_MID, _L_BROW_MID = (105, 66, 52, 65), (334, 296, 282, 295)
_R_BROW_OUT, _L_BROW_OUT = (46, 70), (276, 300)
_R_CHEEK, _L_CHEEK = (117, 118, 50, 101), (346, 347, 280, 330)
_R_ALA, _L_ALA = (98, 64), (327, 294)
_R_MOUTH, _L_MOUTH = 61, 291
_LIP_UP_OUT, _LIP_UP_IN, _LIP_LO_IN, _LIP_LO_OUT = 0, 13, 14, 17
_CHIN = 152

#: the landmark rows this module reads (a memmap is only touched at these columns).
LANDMARKS_USED: tuple[int, ...] = tuple(sorted({
    _R_EYE_OUT, _R_EYE_IN, _L_EYE_IN, _L_EYE_OUT, _NASION, _SUBNASALE,
    *_R_LID_UP, *_R_LID_LO, *_L_LID_UP, *_L_LID_LO, *_R_BROW_IN, *_L_BROW_IN,
    *_R_BROW_MID, *_L_BROW_MID, *_R_BROW_OUT, *_L_BROW_OUT, *_R_CHEEK, *_L_CHEEK,
    *_R_ALA, *_L_ALA, _R_MOUTH, _L_MOUTH, _LIP_UP_OUT, _LIP_UP_IN, _LIP_LO_IN,
    _LIP_LO_OUT, _CHIN,
}))
_COL = {lm: i for i, lm in enumerate(LANDMARKS_USED)}

#: geometric measures, IOD units, signed so that "more" has a fixed anatomical meaning.
GEOMETRY_NAMES: tuple[str, ...] = (
    "brow_inner_height",   # inner brow above the eye line (AU01 up, AU04 down)
    "brow_mid_height",     # brow body above the eye line (AU04 down)
    "brow_outer_height",   # outer brow above the eye line (AU02 up)
    "brow_gap",            # distance between the inner brows (AU04 narrows)
    "eye_aperture",        # upper to lower lid (AU05 up, AU07/AU45 down)
    "lower_lid_depth",     # lower lid below the eye line (AU06/AU07 raise it)
    "cheek_depth",         # infra-orbital cheek below the eye line (AU06 raises it)
    "ala_depth",           # nose wings below the eye line (AU09 raises them)
    "nose_lip",            # subnasale to upper lip (AU10/AU09 shorten it)
    "corner_vs_nose",      # mouth corners above the subnasale level (AU12 up, AU15 down)
    "corner_vs_centre",    # mouth corners above the mouth centre (AU12 up, AU15 down)
    "mouth_width",         # corner to corner (AU12/AU20 widen, AU23 narrows)
    "lip_thickness",       # red of both lips (AU23/24 thin it)
    "lip_gap",             # inner lips apart (AU25)
    "jaw_drop",            # subnasale to chin (AU26)
    "chin_height",         # lower lip to chin (AU17 shortens it)
    "corner_asymmetry",    # left corner above right, signed (unilateral AU12/AU14)
)
_G = {name: i for i, name in enumerate(GEOMETRY_NAMES)}
_B = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}


@dataclass(frozen=True)
class AUSettings:
    """How geometry and blendshapes become AU intensities (plain data, provenance-safe).

    The defaults are the ``[action_units]`` and ``[neutral]`` sections of
    ``cuewatch/rules.toml`` (``cuewatch.rule_numbers``); the reasons for them stay here."""

    #: per AU, its cues: (source, name, sign, full_scale, weight). ``source`` is "g"
    #: (geometry, change from neutral in IOD) or "b" (blendshape, mean of the L/R pair).
    #: A cue's contribution is sign * change / full_scale, clipped to [cue_min, cue_max]
    #: (rules file); the weighted sum, clipped to [0, 1], times 5 is the intensity.
    cues: dict[str, tuple[tuple[str, str, float, float, float], ...]] = field(
        default_factory=lambda: dict(_R.action_units.cues))
    #: a cue sum below this is noise around the neutral face (both signs), not an AU.
    noise_floor: float = _R.action_units.noise_floor
    #: the share of the quietest frames, per region, whose median is the automatic neutral
    #: (about the 12th percentile of activity). It stays right while quiet frames are more
    #: than half this share: a person smiling 80% of the time is still read correctly.
    neutral_fraction: float = _R.neutral.fraction
    #: fewest frames for a neutral reference; with fewer, all usable frames are used.
    min_neutral_frames: int = _R.neutral.min_frames
    #: frames below this confidence never enter the automatic neutral.
    neutral_min_confidence: float = _R.neutral.min_confidence
    #: a blendshape's neutral offset is capped here: the model is trained to read 0 at
    #: rest, so a "resting" 0.8 smile is a held smile, not a resting face.
    blendshape_rest_cap: float = _R.neutral.blendshape_rest_cap
    #: automatic neutral: per region, how much of each paired blendshape a resting
    #: face shows by anatomy alone; only the part above it counts as activity. The eyes
    #: need it most: eyeSquint reads 0.2 to 0.7 and eyeBlink up to 0.4 on resting faces,
    #: while eyeWide never passes 0.03, so a person whose resting eyes read "squinting"
    #: was ranked busier than their own wide-eyed fear, and the fear became their neutral
    #: (a RAVDESS actress: her calm clip then read as a smile, her fear as nothing).
    #: Values: about the 90th percentile over 80 neutral frames of 10 CK+ subjects (frames
    #: 1 and 2 of posed sequences), which covers the resting faces of CREMA-D 1001 and the
    #: RAVDESS actors we hold. Brow and mouth ceilings from the same data were measured and
    #: dropped: they moved actor 1001's neutral onto frames of his angry and sad clips (dev
    #: recall 0.90 -> 0.80, or a false alarm), a knife edge, since those clips barely differ.
    rest_ceiling: dict[str, dict[str, float]] = field(default_factory=lambda: {
        k: dict(v) for k, v in _R.neutral.rest_ceiling.items()})
    #: automatic neutral: per region, the (L/R-paired) blendshapes whose sum ranks
    #: a frame's activity there. Blinks count for the eyes (a blink is not the eyes' rest);
    #: the smile counts for the eyes too, because the cheek raise (AU06) rides on it.
    region_activity: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "brows": ("browDown", "browInnerUp", "browOuterUp"),
        "eyes": ("eyeSquint", "eyeWide", "eyeBlink", "mouthSmile"),
        "mouth": ("jawOpen", "mouthSmile", "mouthFrown", "mouthDimple", "mouthPress",
                  "mouthStretch", "mouthUpperUp", "mouthLowerDown", "mouthShrugLower",
                  "mouthShrugUpper", "mouthPucker", "mouthFunnel", "mouthRollLower",
                  "mouthRollUpper"),
    })
    #: automatic neutral, pass 2: per region, AU -> weight of its expressivity. The mouth
    #: opening of speech counts half (closed mouths are preferred, but a talking person
    #: still gets a neutral mouth).
    region_aus: dict[str, dict[str, float]] = field(default_factory=lambda: {
        k: dict(v) for k, v in _R.neutral.region_aus.items()})
    #: automatic neutral, mode search: the resting face is the densest cluster of a
    #: region's frames holding at least this share of them (and ``min_neutral_frames``):
    #: a person resting a quarter of the time is found whatever the other three quarters do.
    rest_min_share: float = _R.neutral.rest_min_share
    #: ... whose frames span at least this many seconds (a rest, not one passing moment).
    rest_min_spread_s: float = _R.neutral.rest_min_spread_s
    #: ... among the clusters at most this many times wider than the tightest one (a real
    #: mode, not the diffuse middle of the expressive frames), the least active wins.
    rest_density_factor: float = _R.neutral.rest_density_factor
    #: ... and it is a resting face only if its median activity (the region's
    #: ``region_activity`` blendshapes above ``rest_ceiling``, which read ~0 at rest for
    #: anyone) stays at or below this; above it the region held an expression throughout,
    #: no neutral is found there, and it is read person-independently (blendshapes against
    #: the population's rest, no geometry). Measured on CREMA-D 1001 (clip medians):
    #: resting brows 0.28 (his browDown rests at 0.27), angry 0.47, happy 0.66, disgusted
    #: 0.77; resting eyes 0.03, happy 0.72; a speaking mouth 0.69, happy 1.53. Brows get
    #: headroom: the sample role-play's client rests at about 0.5 (browOuterUp at rest),
    #: and 0.45 took her resting brows for a held expression.
    rest_max_activity: dict[str, float] = field(default_factory=lambda: dict(
        _R.neutral.rest_max_activity))
    #: how the resting face is searched (``REST_SEARCHES``, see :func:`neutral_reference`):
    #: "regions" (the mode search per region, above, over every usable frame), "screened"
    #: (the same over the frames the person-independent fitted reading finds possibly
    #: neutral; none when they are too few), "whole_face" (first one resting cluster of
    #: every region at once) or "fitted" (the whole face's dense cluster whose median face
    #: reads neutral most likely). The figures that chose it are in ``rules.toml``.
    rest_search: str = _R.neutral.rest_search
    #: "screened": a frame may be at rest from this probability of "neutral" (the
    #: person-independent fitted reading); "fitted": a resting cluster's median face reads
    #: neutral at least this likely.
    rest_min_neutral: float = _R.neutral.rest_min_neutral

    def to_dict(self) -> dict:
        return {"cues": {k: [list(c) for c in v] for k, v in self.cues.items()},
                "neutral_fraction": self.neutral_fraction,
                "min_neutral_frames": self.min_neutral_frames,
                "neutral_min_confidence": self.neutral_min_confidence,
                "blendshape_rest_cap": self.blendshape_rest_cap, "noise_floor": self.noise_floor,
                "rest_ceiling": {k: dict(v) for k, v in self.rest_ceiling.items()},
                "region_activity": {k: list(v) for k, v in self.region_activity.items()},
                "region_aus": dict(self.region_aus),
                "rest_min_share": self.rest_min_share, "rest_min_spread_s": self.rest_min_spread_s,
                "rest_density_factor": self.rest_density_factor,
                "rest_max_activity": dict(self.rest_max_activity),
                "rest_search": self.rest_search, "rest_min_neutral": self.rest_min_neutral}


#: where a neutral reference comes from (``NeutralReference.source``).
SOURCE_MARKED = "marked"
SOURCE_FOUND = "found"
SOURCE_NONE = "none: person-independent"


@dataclass
class NeutralReference:
    """The person's neutral face: geometry and blendshape values at rest, and its source.

    ``source``: ``SOURCE_MARKED`` (a reviewer's span), ``SOURCE_FOUND`` (a resting face
    found in every region), ``SOURCE_NONE`` (none found: the face is read against the
    population's rest), or "found for ...; none: person-independent for ..." per region
    (``region_sources``). A region with no neutral has NaN geometry: its geometric cues
    drop out and its blendshapes are read against the population's rest.
    """

    geometry: np.ndarray      # (G,) float64, NaN where no neutral was found
    blendshapes: np.ndarray   # (52,) float64, already capped
    method: str               # "span" or "automatic"
    n_frames: int
    frames: np.ndarray        # row indices used (by any region)
    region_frames: dict[str, np.ndarray] = field(default_factory=dict)  # region -> rows
    source: str = SOURCE_FOUND
    region_sources: dict[str, str] = field(default_factory=dict)  # region -> source


class IndexedLandmarks(Protocol):
    """An (N, 478, 3) landmark array read by index, not copied: a memmap or a lazy view
    (``cuewatch.expression.cache.LandmarkView``) that decodes only the columns asked for."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def ndim(self) -> int: ...

    def __getitem__(self, key: Any) -> Any: ...


#: landmarks as an array or a view of one.
Landmarks = Union[np.ndarray, IndexedLandmarks]


def face_frame_points(landmarks: Landmarks) -> tuple[np.ndarray, np.ndarray]:
    """Used landmarks rotated into the face-fixed frame, in IOD units, and the IOD in pixels.

    Returns (N, len(LANDMARKS_USED), 3) with x to the subject's left, y down the face,
    z out of the face, origin between the eyes; and (N,) IOD. Reads only the needed
    landmark columns, so a memmap is touched sparsely.
    """
    # memmaps and lazy views (cuewatch.expression.cache.LandmarkView) are indexed, not copied
    lm = landmarks if hasattr(landmarks, "shape") and hasattr(landmarks, "ndim") else np.asarray(landmarks)
    if lm.ndim != 3 or lm.shape[1] < 478 or lm.shape[2] != 3:
        raise CuewatchError(f"landmarks must be (N, 478, 3), got {lm.shape}")
    p = np.asarray(lm[:, LANDMARKS_USED, :], dtype=np.float32)
    c = _COL
    r_eye = 0.5 * (p[:, c[_R_EYE_OUT]] + p[:, c[_R_EYE_IN]])
    l_eye = 0.5 * (p[:, c[_L_EYE_OUT]] + p[:, c[_L_EYE_IN]])
    origin = 0.5 * (r_eye + l_eye)
    ex = (l_eye - r_eye).astype(np.float64)
    iod = np.linalg.norm(ex, axis=1)
    safe = np.where(iod > 1e-6, iod, 1.0)
    ex = ex / safe[:, None]
    down = (p[:, c[_SUBNASALE]] - p[:, c[_NASION]]).astype(np.float64)
    down = down - np.sum(down * ex, axis=1)[:, None] * ex
    dn = np.linalg.norm(down, axis=1)
    ey = down / np.where(dn > 1e-9, dn, 1.0)[:, None]
    ez = np.cross(ex, ey)
    rot = np.stack([ex, ey, ez], axis=2) / safe[:, None, None]  # (N, 3, 3), columns = axes
    q = np.matmul((p - origin[:, None, :]).astype(np.float32), rot.astype(np.float32))
    return q, iod


def geometry_measures(points: np.ndarray) -> np.ndarray:
    """(N, G) geometric measures (GEOMETRY_NAMES order) from :func:`face_frame_points`."""
    c = _COL

    def y(ids: tuple[int, ...] | int) -> np.ndarray:
        ids = (ids,) if isinstance(ids, int) else ids
        return points[:, [c[i] for i in ids], 1].mean(axis=1, dtype=np.float64)

    def x(ids: tuple[int, ...] | int) -> np.ndarray:
        ids = (ids,) if isinstance(ids, int) else ids
        return points[:, [c[i] for i in ids], 0].mean(axis=1, dtype=np.float64)

    eye_line = 0.25 * (y(_R_EYE_OUT) + y(_R_EYE_IN) + y(_L_EYE_IN) + y(_L_EYE_OUT))
    corners = 0.5 * (y(_R_MOUTH) + y(_L_MOUTH))
    out = np.empty((points.shape[0], len(GEOMETRY_NAMES)), dtype=np.float64)
    out[:, _G["brow_inner_height"]] = eye_line - 0.5 * (y(_R_BROW_IN) + y(_L_BROW_IN))
    out[:, _G["brow_mid_height"]] = eye_line - 0.5 * (y(_R_BROW_MID) + y(_L_BROW_MID))
    out[:, _G["brow_outer_height"]] = eye_line - 0.5 * (y(_R_BROW_OUT) + y(_L_BROW_OUT))
    out[:, _G["brow_gap"]] = x(_L_BROW_IN) - x(_R_BROW_IN)
    out[:, _G["eye_aperture"]] = 0.5 * ((y(_R_LID_LO) - y(_R_LID_UP)) + (y(_L_LID_LO) - y(_L_LID_UP)))
    out[:, _G["lower_lid_depth"]] = 0.5 * (y(_R_LID_LO) + y(_L_LID_LO)) - eye_line
    out[:, _G["cheek_depth"]] = 0.5 * (y(_R_CHEEK) + y(_L_CHEEK)) - eye_line
    out[:, _G["ala_depth"]] = 0.5 * (y(_R_ALA) + y(_L_ALA)) - eye_line
    out[:, _G["nose_lip"]] = y(_LIP_UP_OUT) - y(_SUBNASALE)
    out[:, _G["corner_vs_nose"]] = y(_SUBNASALE) - corners
    # against the centre between the inner lips, not the upper lip: when the jaw opens in
    # speech the corners drop with the lower lip, and against the upper lip every open
    # vowel would read as a lip-corner depressor (AU15)
    out[:, _G["corner_vs_centre"]] = 0.5 * (y(_LIP_UP_IN) + y(_LIP_LO_IN)) - corners
    out[:, _G["mouth_width"]] = x(_L_MOUTH) - x(_R_MOUTH)
    out[:, _G["lip_thickness"]] = (y(_LIP_UP_IN) - y(_LIP_UP_OUT)) + (y(_LIP_LO_OUT) - y(_LIP_LO_IN))
    out[:, _G["lip_gap"]] = y(_LIP_LO_IN) - y(_LIP_UP_IN)
    out[:, _G["jaw_drop"]] = y(_CHIN) - y(_SUBNASALE)
    out[:, _G["chin_height"]] = y(_CHIN) - y(_LIP_LO_OUT)
    out[:, _G["corner_asymmetry"]] = y(_R_MOUTH) - y(_L_MOUTH)
    return out


def paired_blendshapes(blendshapes: np.ndarray) -> dict[str, np.ndarray]:
    """Blendshapes by name, with Left/Right pairs averaged under the shared stem."""
    b = np.asarray(blendshapes, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for name, i in _B.items():
        out[name] = b[:, i]
    for name in list(out):
        if name.endswith("Left") and name[:-4] + "Right" in out:
            out[name[:-4]] = 0.5 * (out[name] + out[name[:-4] + "Right"])
    return out


# The confidence stage reads frame-to-frame flicker of the face as a sign that a hand or
# an object covers it. Only the upper face counts: speech moves the lips and jaw fast and
# legitimately, so mouth flicker is the client talking, not a covered face, while brows
# and lids stay steady through speech and still jump under a hand.
#: brow and eye blendshapes that move with expression (not gaze, not blinks).
STEADY_BLENDSHAPES: tuple[str, ...] = ("browDownLeft", "browDownRight", "browInnerUp",
                                       "browOuterUpLeft", "browOuterUpRight", "eyeWideLeft",
                                       "eyeWideRight")
STEADY_BLENDSHAPE_IDX = np.array([_B[n] for n in STEADY_BLENDSHAPES])
#: columns of :func:`face_frame_points` on the brows, lids, eye corners and nose bridge.
UPPER_FACE_COLS = np.array([_COL[i] for i in (
    _R_EYE_OUT, _R_EYE_IN, _L_EYE_IN, _L_EYE_OUT, _NASION, *_R_LID_UP, *_R_LID_LO,
    *_L_LID_UP, *_L_LID_LO, *_R_BROW_IN, *_L_BROW_IN, *_R_BROW_MID, *_L_BROW_MID,
    *_R_BROW_OUT, *_L_BROW_OUT)])

#: Facial regions for the automatic neutral: the geometric measures and blendshapes whose
#: rest value each region's quiet frames define. Every measure and blendshape belongs to
#: exactly one region (blendshapes by name prefix: brow*, eye*, the rest lower face).
NEUTRAL_REGIONS: tuple[str, ...] = ("brows", "eyes", "mouth")
_REGION_GEOMETRY: dict[str, tuple[str, ...]] = {
    "brows": ("brow_inner_height", "brow_mid_height", "brow_outer_height", "brow_gap"),
    # the cheek rides with the lower lid (AU06 raises both), so it is read with the eyes
    "eyes": ("eye_aperture", "lower_lid_depth", "cheek_depth"),
    "mouth": ("ala_depth", "nose_lip", "corner_vs_nose", "corner_vs_centre", "mouth_width",
              "lip_thickness", "lip_gap", "jaw_drop", "chin_height", "corner_asymmetry"),
}
_REGION_OF_BLENDSHAPE = np.array(["brows" if n.startswith("brow") else
                                  "eyes" if n.startswith("eye") else "mouth"
                                  for n in BLENDSHAPE_NAMES])


def _reference_at(geometry: np.ndarray, blendshapes: np.ndarray,
                  rows: dict[str, np.ndarray] | np.ndarray, method: str,
                  settings: AUSettings) -> NeutralReference:
    """Median geometry and (capped) blendshapes over ``rows``, or per region over its rows."""
    per_region = rows if isinstance(rows, dict) else {r: rows for r in NEUTRAL_REGIONS}
    g = np.empty(geometry.shape[1])
    b = np.empty(blendshapes.shape[1])
    sources = {}
    for region, idx in per_region.items():
        cols = [_G[n] for n in _REGION_GEOMETRY[region]]
        bcols = np.flatnonzero(_REGION_OF_BLENDSHAPE == region)
        if idx.size == 0:  # no resting face here: the population's rest, no geometry
            g[cols] = np.nan
            b[bcols] = population_rest_blendshapes(region, settings)[bcols]
            sources[region] = SOURCE_NONE
            continue
        g[cols] = np.median(geometry[idx][:, cols], axis=0)
        b[bcols] = np.median(np.asarray(blendshapes[idx][:, bcols], dtype=np.float64), axis=0)
        sources[region] = SOURCE_MARKED if method == "span" else SOURCE_FOUND
    b = np.minimum(b, settings.blendshape_rest_cap)
    used = np.unique(np.concatenate([np.asarray(v, dtype=np.int64) for v in per_region.values()]))
    found = [r for r in NEUTRAL_REGIONS if sources.get(r) != SOURCE_NONE]
    none = [r for r in NEUTRAL_REGIONS if sources.get(r) == SOURCE_NONE]
    if method == "span":
        source = SOURCE_MARKED
    elif not none:
        source = SOURCE_FOUND
    elif not found:
        source = SOURCE_NONE
    else:
        source = f"{SOURCE_FOUND} for {', '.join(found)}; {SOURCE_NONE} for {', '.join(none)}"
    return NeutralReference(geometry=g, blendshapes=b, method=method, n_frames=int(used.size),
                            frames=used, region_frames=dict(per_region), source=source,
                            region_sources=sources)


def population_rest_blendshapes(region: str, settings: AUSettings) -> np.ndarray:
    """(52,) what a resting face reads on the model's blendshapes, for anyone: 0, except
    where anatomy alone shows some (``rest_ceiling``, e.g. resting eyes "squint")."""
    out = np.zeros(len(BLENDSHAPE_NAMES))
    for stem, value in settings.rest_ceiling.get(region, {}).items():
        for name in (stem, stem + "Left", stem + "Right"):
            if name in _B and _REGION_OF_BLENDSHAPE[_B[name]] == region:
                out[_B[name]] = value
    return out


def _cue_scales(region: str, settings: AUSettings) -> tuple[list[int], np.ndarray, list[str], np.ndarray]:
    """The region's geometry columns and blendshape stems, each with the smallest
    ``full_scale`` a cue reads it at: the units in which resting faces are compared."""
    scale: dict[tuple[str, str], float] = {}
    for cues in settings.cues.values():
        for source, name, _sign, full, _w in cues:
            key = (source, name)
            scale[key] = min(scale.get(key, np.inf), float(full))
    gnames = _REGION_GEOMETRY[region]
    gcols = [_G[n] for n in gnames]
    gscale = np.array([scale.get(("g", n), _R.neutral.geometry_scale_default) for n in gnames])
    stems = list(settings.region_activity[region])
    cap = _R.neutral.blendshape_scale_cap
    bscale = np.array([min(scale.get(("b", n), cap), cap) for n in stems])
    return gcols, gscale, stems, bscale


def _rest_points(regions: tuple[str, ...], geometry: np.ndarray, paired: dict[str, np.ndarray],
                 usable: np.ndarray, settings: AUSettings) -> tuple[np.ndarray, np.ndarray]:
    """The usable frames as points of the regions' geometry and blendshapes (cue full-scale
    units, blendshapes above the ``rest_ceiling``), and each region's activity (n, regions)."""
    s = settings
    xs, acts = [], []
    for r in regions:
        gcols, gscale, stems, bscale = _cue_scales(r, s)
        rest = s.rest_ceiling.get(r, {})
        bs = np.stack([np.maximum(paired[n][usable] - rest.get(n, 0.0), 0.0) for n in stems], axis=1)
        acts.append(bs.sum(axis=1))
        xs.append(np.concatenate([geometry[usable][:, gcols] / gscale, bs / bscale], axis=1))
    return np.concatenate(xs, axis=1), np.stack(acts, axis=1)


def _clusters(x: np.ndarray, settings: AUSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mode search's clusters over ``_MODE_POINTS`` frames evenly spread over ``x``:
    the subsample (rows of ``x``), each point's cluster (its nearest ``rest_min_share`` of
    the points, as subsample positions) and each cluster's width (its farthest member)."""
    s = settings
    n = x.shape[0]
    pick = np.unique(np.linspace(0, n - 1, min(n, _MODE_POINTS)).round().astype(np.int64))
    xp = x[pick]
    m = pick.size
    k = int(min(m, max(s.min_neutral_frames, np.ceil(s.rest_min_share * m))))
    sq = np.einsum("ij,ij->i", xp, xp)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (xp @ xp.T), 0.0))
    order = np.argpartition(d, k - 1, axis=1)[:, :k]              # each frame's cluster
    width = np.take_along_axis(d, order, axis=1).max(axis=1)
    return pick, order, width


def _rest_frames(region: str | tuple[str, ...], timestamps: np.ndarray, geometry: np.ndarray,
                 paired: dict[str, np.ndarray], usable: np.ndarray,
                 settings: AUSettings) -> np.ndarray:
    """The region's resting frames (rows of ``usable``), or none: a robust mode search.

    Each frame is a point (the region's geometry and blendshapes, in cue full-scale
    units). A cluster is a frame with its nearest ``rest_min_share`` of frames; its width
    is the distance to the farthest of them. Clusters that are local density maxima and
    at most ``rest_density_factor`` times wider than the tightest are candidates; the
    least active candidate is the rest, if it spans ``rest_min_spread_s`` and its median
    activity stays within ``rest_max_activity`` (else there is no resting face here).
    Several regions (the whole face) are searched as one: the points join, activity is
    summed in units of each region's ``rest_max_activity``, and every region must stay
    within its own. Subsampled to ``_MODE_POINTS`` frames, so an hour costs as much as a minute.
    """
    s = settings
    regions = (region,) if isinstance(region, str) else tuple(region)
    x, per_region = _rest_points(regions, geometry, paired, usable, s)
    limits = np.array([s.rest_max_activity.get(r, np.inf) for r in regions])
    activity = (per_region / limits).sum(axis=1) if len(regions) > 1 else per_region[:, 0]
    pick, order, width = _clusters(x, s)
    xp, ap, tp = x[pick], activity[pick], timestamps[usable][pick]
    calm = np.median(ap[order], axis=1)                          # each cluster's activity
    tight = width <= s.rest_density_factor * np.median(width)    # a cluster, not strays
    for i in np.flatnonzero(tight)[np.argsort(calm[tight], kind="stable")]:
        members = order[i]
        if np.any(np.median(per_region[pick][members], axis=0) > limits):
            if len(regions) == 1:
                break  # sorted by activity: no calmer cluster follows
            continue
        if np.ptp(tp[members]) >= s.rest_min_spread_s:
            # every frame (not only the subsample) as close to the mode as its cluster
            near = np.sqrt(((x - xp[i]) ** 2).sum(axis=1)) <= width[i]
            return usable[near]
    return np.empty(0, dtype=np.int64)


#: P(neutral) per face: (N, G) geometry and (N, 52) blendshapes -> (N,) probability that
#: a face is at rest, read person-independently (the fitted reading's "absolute" model,
#: built by ``cuewatch.expression.series.neutral_scorer``; this module does not import it).
NeutralScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _fitted_rest_frames(timestamps: np.ndarray, geometry: np.ndarray, blendshapes: np.ndarray,
                        paired: dict[str, np.ndarray], usable: np.ndarray, settings: AUSettings,
                        scorer: NeutralScorer) -> np.ndarray:
    """The whole face's resting frames (rows of ``usable``), or none: dense clusters of the
    face (as :func:`_rest_frames` builds them, every region at once), each scored by how
    likely its median face reads neutral for anyone (``scorer``); the likeliest of the
    tight clusters spanning ``rest_min_spread_s`` is the rest if that is at least
    ``rest_min_neutral``. The median face, not each frame: a blink or a syllable in a
    resting cluster does not decide it, and the scorer runs once per candidate cluster."""
    s = settings
    x, _activity = _rest_points(NEUTRAL_REGIONS, geometry, paired, usable, s)
    pick, order, width = _clusters(x, s)
    tp = timestamps[usable][pick]
    tight = width <= s.rest_density_factor * np.median(width)
    spread = np.ptp(tp[order], axis=1) >= s.rest_min_spread_s
    candidates = np.flatnonzero(tight & spread)
    if candidates.size == 0:
        return np.empty(0, dtype=np.int64)
    rows = usable[pick][order[candidates]]                       # (c, k) rows of the track
    faces_g = np.median(geometry[rows], axis=1)
    faces_b = np.median(np.asarray(blendshapes, dtype=np.float32)[rows], axis=1)
    p = np.asarray(scorer(faces_g, faces_b), dtype=np.float64)
    best = int(np.argmax(p))
    if not p[best] >= s.rest_min_neutral:
        return np.empty(0, dtype=np.int64)
    i = candidates[best]
    near = np.sqrt(((x - x[pick[i]]) ** 2).sum(axis=1)) <= width[i]
    return usable[near]


#: frames the mode search compares pairwise (evenly spread over the track).
_MODE_POINTS = _R.neutral.mode_points


def neutral_reference(timestamps: np.ndarray, geometry: np.ndarray, blendshapes: np.ndarray,
                      confidence: np.ndarray, neutral_span: Optional[tuple[float, float]] = None,
                      settings: Optional[AUSettings] = None,
                      scorer: Optional[NeutralScorer] = None) -> NeutralReference:
    """The person's neutral face, from a marked span or found automatically, per region.

    Automatic: OpenFace assumes the most common expression is neutral, which fails for a
    person who smiles (or frowns) through most of a session: the median face is then the
    held expression and every real neutral moment reads as its opposite. Instead we take
    the least active frames, and we take them *per facial region* (brows, eyes and
    cheeks, mouth). One whole-face ranking is dominated by the mouth, which never rests
    while a person speaks: it would pick the frames where the mouth happens to be quiet,
    and if those are frowning frames (a person listening with lowered brows) the frown
    becomes "neutral" and AU04 vanishes. Upper and lower face move independently (FACS
    scores them separately for this reason), so each region's rest is the median of its
    own least active frames: brows referenced to the frames with least browDown +
    browInnerUp + browOuterUp, eyes to those with least squint, widening, blinking and
    smiling (the cheek raise rides on the smile), mouth to those with least mouth
    activity. Pass 1 ranks by the region's blendshapes (they read ~0 at rest for anyone,
    so the ranking needs no calibration) and takes the lowest ``neutral_fraction``; pass 2
    re-ranks by the region's AU intensities against that first reference (geometry now
    counts too) and takes the lowest again. A person who smiles 80% of the time still has
    20% of frames quieter than every smile, and a listening client gives quiet mouths.

    ``rest_search`` (``AUSettings``) says where that search looks. "regions" (the default):
    every usable frame, as described here. "screened" (off; needs ``scorer``, the
    person-independent fitted reading's probability that a face is neutral, without which
    it is "regions"): only the frames that reading does not rule out (``rest_min_neutral``
    or more), the passes taking as many as ``neutral_fraction`` of all usable frames (a
    quarter of the screened ones instead kept the quietest of the neutral frames, farther
    from a marked neutral's median); if they are fewer than
    ``rest_min_share`` of the usable frames there is no resting face, in no region, and
    ``source`` says so. A held smile or frown is then not taken for a neutral because it
    is the calmest thing in the recording, while within the frames that could be at rest
    the person's own quietest brows, eyes and mouth still decide (the fitted reading alone
    cannot tell a mild frown from this person's rest: CREMA-D 1001's angry clip reads as
    neutral to it as his neutral one). "whole_face": first one resting cluster of every
    region at once, pass 1 its own frames. "fitted" (needs ``scorer``): the whole face's
    dense cluster whose median face reads neutral most likely (:func:`_fitted_rest_frames`,
    at least ``rest_min_neutral``) is every region's rest, its frames the reference. Why
    the two that read the fitted reading are off (they lose role-play events): rules.toml.

    But a person who never rests in a region would have the least active frames of a
    held expression taken for a neutral. So first, per region, a mode search
    (:func:`_rest_frames`, in any frame order) looks for a resting face: the calmest dense
    cluster of at least ``rest_min_share`` of the frames, over time, no more active than a
    resting face is for anyone (``rest_max_activity``). Where there is none, ``source``
    says so and the region is read person-independently: its blendshapes against the
    population's rest (``population_rest_blendshapes``), its geometry not at all.
    Only frames seen with confidence enter. Blendshape rest values are capped
    (``blendshape_rest_cap``) so that a person who never stops smiling still shows a smile.
    """
    s = settings or AUSettings()
    n = geometry.shape[0]
    if n == 0:
        raise CuewatchError("no frames to take a neutral face from")
    t = np.asarray(timestamps, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    finite = np.all(np.isfinite(geometry), axis=1)
    if neutral_span is not None:
        start, end = float(neutral_span[0]), float(neutral_span[1])
        if not end > start:
            raise CuewatchError(f"neutral span must end after it starts, got {start:g}-{end:g} s")
        rows = np.flatnonzero((t >= start) & (t <= end) & finite)
        if rows.size == 0:
            raise CuewatchError(
                f"no face seen in the neutral span {start:g}-{end:g} s: mark a span where the face is visible")
        return _reference_at(geometry, blendshapes, rows, "span", s)

    usable = np.flatnonzero(finite & (conf >= s.neutral_min_confidence))
    if usable.size < s.min_neutral_frames:
        usable = np.flatnonzero(finite)
    if usable.size == 0:
        raise CuewatchError("no usable face frames to take a neutral face from")
    b = np.asarray(blendshapes, dtype=np.float64)
    paired = paired_blendshapes(b)
    k = max(min(s.min_neutral_frames, usable.size), int(round(s.neutral_fraction * usable.size)))
    if s.rest_search not in REST_SEARCHES:
        raise CuewatchError(f"unknown rest search {s.rest_search!r}: use one of {', '.join(REST_SEARCHES)}")
    if s.rest_search == "screened" and scorer is not None:
        p = np.asarray(scorer(geometry[usable], b[usable]), dtype=np.float64)
        keep = usable[p >= s.rest_min_neutral]
        if keep.size < max(s.min_neutral_frames, s.rest_min_share * usable.size):
            return _reference_at(geometry, b, {region: usable[:0] for region in NEUTRAL_REGIONS}, "automatic", s)
        usable = keep
        k = min(k, usable.size)   # still a share of the recording, not of the screened frames
    if s.rest_search == "fitted" and scorer is not None:
        joint = _fitted_rest_frames(t, geometry, b, paired, usable, s, scorer)
        return _reference_at(geometry, b, {region: joint for region in NEUTRAL_REGIONS}, "automatic", s)
    whole = s.rest_search == "whole_face"
    joint = _rest_frames(NEUTRAL_REGIONS, t, geometry, paired, usable, s) if whole else usable[:0]
    if joint.size:
        rest = {region: joint for region in NEUTRAL_REGIONS}
    else:
        rest = {region: _rest_frames(region, t, geometry, paired, usable, s) for region in NEUTRAL_REGIONS}
    found = [r for r in NEUTRAL_REGIONS if rest[r].size]
    if not found:
        return _reference_at(geometry, b, rest, "automatic", s)
    pass1 = {}
    for region in NEUTRAL_REGIONS:
        ceiling = s.rest_ceiling.get(region, {})
        activity = sum(np.maximum(paired[name][usable] - ceiling.get(name, 0.0), 0.0)
                       for name in s.region_activity[region])
        pass1[region] = usable[np.argsort(activity, kind="stable")[:k]] if rest[region].size else rest[region]
    if whole:
        pass1 = rest
    ref = _reference_at(geometry, b, pass1, "automatic", s)
    au = action_unit_intensities(geometry[usable], b[usable], ref, s)
    pass2 = {}
    for region in NEUTRAL_REGIONS:
        if not rest[region].size:
            pass2[region] = rest[region]
            continue
        weights = np.array([s.region_aus[region].get(a, 0.0) for a in AU_NAMES])
        pass2[region] = usable[np.argsort(au @ weights, kind="stable")[:k]]
    return _reference_at(geometry, b, pass2, "automatic", s)


def action_unit_intensities(geometry: np.ndarray, blendshapes: np.ndarray,
                            reference: NeutralReference,
                            settings: Optional[AUSettings] = None) -> np.ndarray:
    """(N, 17) AU intensities 0..5 in AU_NAMES order, relative to ``reference``."""
    s = settings or AUSettings()
    dg = geometry - reference.geometry[None, :]
    bs = paired_blendshapes(blendshapes)
    ref_bs = paired_blendshapes(reference.blendshapes[None, :])
    n = geometry.shape[0]
    out = np.zeros((n, len(AU_NAMES)), dtype=np.float64)
    for j, au in enumerate(AU_NAMES):
        changes = [(dg[:, _G[name]] if source == "g" else bs[name] - ref_bs[name][0],
                    source, sign, full, weight) for source, name, sign, full, weight in s.cues[au]]
        # a geometric cue without a neutral: the AU is read from its blendshapes alone (they
        # read ~0 at rest for anyone), standing for the AU's whole weight; none: it reads 0
        blind = np.zeros(n, dtype=bool)
        for change, *_rest in changes:
            blind |= ~np.isfinite(change)
        total = np.zeros(n)
        b_total = np.zeros(n)
        weights = b_weights = 0.0
        for change, source, sign, full, weight in changes:
            part = weight * np.clip(sign * np.nan_to_num(change) / full,
                                    _R.action_units.cue_min, _R.action_units.cue_max)
            total += part
            weights += weight
            if source == "b":
                b_total += part
                b_weights += weight
        if b_weights > 0:
            total = np.where(blind, b_total * weights / b_weights, total)
        else:
            total = np.where(blind, 0.0, total)
        out[:, j] = 5.0 * np.clip((total - s.noise_floor) / (1.0 - s.noise_floor), 0.0, 1.0)
    return np.nan_to_num(out, nan=0.0)
