"""File formats and column schemas are pinned: users' scripts read them."""

from cuewatch import formats


def test_frames_csv_columns_follow_openface() -> None:
    assert formats.FRAMES_CSV_BASE_COLUMNS == (
        "frame", "face_id", "timestamp", "confidence", "success", "pose_Rx", "pose_Ry", "pose_Rz")
    assert len(formats.BLENDSHAPE_NAMES) == 52 and formats.BLENDSHAPE_NAMES[0] == "_neutral"
    assert formats.BLENDSHAPE_NAMES[44:46] == ("mouthSmileLeft", "mouthSmileRight")


def test_expression_columns() -> None:
    assert formats.AU_COLUMNS[0] == "AU01_r" and formats.AU_COLUMNS[-1] == "AU45_r"
    assert len(formats.AU_NAMES) == 17
    assert formats.EXPRESSION_CATEGORIES == (
        "neutral", "happy", "sad", "angry", "fearful", "surprised", "disgusted", "contempt")
    assert formats.EXPRESSION_COLUMNS[-2:] == ("valence", "arousal")


def test_flags_schema() -> None:
    assert formats.FLAG_TYPES == ("incongruence", "leak")
    assert formats.FLAGS_CSV_COLUMNS[:4] == ("id", "start", "end", "type")
    assert formats.CONSENT_SCOPES == ("training", "supervision", "research")


def test_attunement_json_schema() -> None:
    """attunement.json's layout: users' scripts read these keys (bump the version to change)."""
    assert (formats.ATTUNEMENT_JSON_FORMAT, formats.ATTUNEMENT_JSON_VERSION) == ("cuewatch-attunement", 1)
    assert formats.ATTUNEMENT_JSON_KEYS == (
        "format", "version", "video", "client", "therapist", "settings", "flags", "synchrony",
        "provenance")
    assert formats.ATTUNEMENT_PERSON_KEYS == ("speaker", "track")
    assert formats.ATTUNEMENT_FLAG_KEYS == (
        "id", "start", "end", "type", "response", "response_reason", "mirroring", "mirroring_reason")
    assert formats.ATTUNEMENT_RESPONSE_KEYS == ("kind", "evidence", "latency", "rule", "turns")
    assert formats.ATTUNEMENT_MIRRORING_KEYS == ("verdict", "changes")
    assert formats.ATTUNEMENT_SYNCHRONY_KEYS == (
        "z", "lag_s", "leader", "statistic", "surrogate_mean", "surrogate_sd", "signals",
        "over_time", "reason")
    assert formats.ATTUNEMENT_SIGNAL_KEYS == ("z", "lag_s")
    assert formats.THERAPIST_NOT_ON_CAMERA == "therapist not on camera"


def test_attunement_export_columns_and_keys() -> None:
    """The project exports' attunement (flags CSV columns, flags JSON keys) and the response
    kinds the store counts as missed: pinned, the app and users' scripts read them."""
    from cuewatch.words.response import RESPONSE_KINDS

    assert formats.MISSED_RESPONSE_KINDS == ("none", "moved_on")
    assert formats.NAMED_OR_EXPLORED_KINDS == ("named", "explored")
    assert set(formats.MISSED_RESPONSE_KINDS) | set(formats.NAMED_OR_EXPLORED_KINDS) < set(RESPONSE_KINDS)
    assert formats.FLAGS_EXPORT_RESPONSE_COLUMNS == (
        "response_kind", "response_evidence", "response_latency_s", "response_turn_start",
        "response_rule", "response_reason", "missed", "mirroring", "mirroring_reason")
    assert formats.FLAGS_EXPORT_RESPONSE_KEYS == (
        "kind", "evidence", "latency_s", "turn_start", "rule", "reason", "missed", "mirroring",
        "mirroring_reason")
    assert len(formats.FLAGS_EXPORT_RESPONSE_KEYS) == len(formats.FLAGS_EXPORT_RESPONSE_COLUMNS)
    assert formats.FLAGS_EXPORT_ATTUNEMENT_KEYS == ("therapist", "summary", "synchrony")
    assert formats.THERAPIST_ROLE_LABEL == "therapist"
    assert formats.ATTUNEMENT_NOT_COMPUTED == "attunement not computed"


def test_blendshape_order_matches_the_model(model_path) -> None:
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import BaseOptions, vision

    from cuewatch.media.video import FrameReader, probe_video
    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(model_path)),
                                        output_face_blendshapes=True, num_faces=1)
    from pathlib import Path
    clip = Path(__file__).resolve().parents[1] / "sample_media" / "demo_roleplay.mp4"
    frame = next(iter(FrameReader(probe_video(clip))))
    with vision.FaceLandmarker.create_from_options(opts) as lm:
        res = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.image)))
    assert tuple(b.category_name for b in res.face_blendshapes[0]) == formats.BLENDSHAPE_NAMES
