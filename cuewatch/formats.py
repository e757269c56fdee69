"""Column schemas and file-format constants, pinned by tests.

Changing anything here changes what users' scripts read: bump the matching version.
"""

from __future__ import annotations

# MediaPipe Face Landmarker blendshape order (the model's output order).
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
N_BLENDSHAPES = len(BLENDSHAPE_NAMES)
N_LANDMARKS = 478

# frames.csv: OpenFace 2.x names where they overlap. pose_Rx/Ry/Rz are pitch, yaw, roll
# in degrees (OpenFace uses radians; we say degrees in the README and summary).
FRAMES_CSV_BASE_COLUMNS: tuple[str, ...] = (
    "frame", "face_id", "timestamp", "confidence", "success", "pose_Rx", "pose_Ry", "pose_Rz",
)

# Action units estimated by cuewatch.expression.series, FACS names with OpenFace's _r suffix.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
    "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
AU_COLUMNS: tuple[str, ...] = tuple(f"{au}_r" for au in AU_NAMES)

# Prototype matches (user-facing: "prototype match", not "emotion").
EXPRESSION_CATEGORIES: tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "fearful", "surprised", "disgusted", "contempt",
)
EXPRESSION_COLUMNS: tuple[str, ...] = EXPRESSION_CATEGORIES + ("valence", "arousal")

#: which side of zero each mood category (expressed, or stated: "calm" too) sits on:
#: +1 positive, -1 negative, 0 neither. The stages and the exports read it from here.
CATEGORY_POLARITY: dict[str, int] = {
    "neutral": 0, "happy": 1, "sad": -1, "angry": -1, "fearful": -1, "surprised": 0,
    "disgusted": -1, "contempt": -1, "calm": 1,
}
NEGATIVE_CATEGORIES: tuple[str, ...] = tuple(c for c in EXPRESSION_CATEGORIES
                                             if CATEGORY_POLARITY[c] < 0)
POSITIVE_CATEGORIES: tuple[str, ...] = tuple(c for c, p in CATEGORY_POLARITY.items() if p > 0)
#: |valence| below this is neutral: no side of zero is stated (or shown).
NEUTRAL_BAND = 0.15

#: colours of the timeline (the app's and the exported picture and HTML report's), as
#: "#rrggbb": one table, so a supervisor sees the same colour for the same thing anywhere.
COLOURS: dict[str, str] = {
    "stated_positive": "#40aa60", "stated_negative": "#d65248", "stated_neutral": "#a8a8a8",
    "no_mood": "#d7d7d7", "expressed_valence": "#285aa0",
    "incongruence": "#e87814", "leak": "#963cbe", "therapist_incongruence": "#1e9696",
    "face_not_seen": "#787878",
    "annotation": "#4682c8",
    "verdict_agree": "#32a050", "verdict_disagree": "#cd3737", "verdict_unsure": "#e1b428",
    "expression_neutral": "#bebebe", "expression_happy": "#58ba64", "expression_sad": "#5078d2",
    "expression_angry": "#dc463c", "expression_fearful": "#a064c8",
    "expression_surprised": "#f0be3c", "expression_disgusted": "#8c9632",
    "expression_contempt": "#c8783c",
}


def colour_rgb(name: str) -> tuple[int, int, int]:
    """A ``COLOURS`` entry as (red, green, blue) 0..255."""
    value = COLOURS[name]
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)

FRAMES_CSV_VERSION = 1
SUMMARY_JSON_VERSION = 1
FLAGS_JSON_VERSION = 1
FEATURES_FORMAT_VERSION = 1
#: bump when the face pass changes what it computes: cached features are then recomputed.
FACE_PASS_REVISION = 6

#: the client's flags: what the flags stage looks for in the client's face.
CLIENT_FLAG_TYPES: tuple[str, ...] = ("incongruence", "leak")
#: the trainee's own congruence: the same check run on the therapist's face against the
#: therapist's own words (``cuewatch.flags.incongruence.detect_therapist_flags``).
THERAPIST_INCONGRUENCE = "therapist_incongruence"
FLAG_TYPES: tuple[str, ...] = CLIENT_FLAG_TYPES + (THERAPIST_INCONGRUENCE,)
#: how the app, the report and the CLI name each flag type to a reader.
FLAG_TYPE_LABELS: dict[str, str] = {
    "incongruence": "incongruence", "leak": "leak",
    THERAPIST_INCONGRUENCE: "therapist incongruence",
}
#: the provenance key an export states, when it leaves the therapist's flags out, why.
THERAPIST_FLAGS_LEFT_OUT_KEY = "therapist_flags_left_out"
#: why a gap (a span with no verdict, in flags.json and the project) has no verdict.
GAP_FACE_NOT_VISIBLE = "face not visible"   # the client's face, while other faces were seen
GAP_NO_CLIENT_FACE = "no client face"       # faces were seen, none of them the client's
GAP_NO_FACE = "no face"                     # no face at all in the frame
GAP_NOT_DECODED = "not decoded"             # the video's tail did not decode (truncated file)
GAP_REASONS: tuple[str, ...] = (GAP_FACE_NOT_VISIBLE, GAP_NO_CLIENT_FACE, GAP_NO_FACE,
                                GAP_NOT_DECODED)
#: attunement.json (``cuewatch analyze`` with a transcript, beside flags.json): per flag the
#: trainee's response and the mirroring verdict, per session the face synchrony. Its keys,
#: at each level, in order; the README documents each (section "Output files").
ATTUNEMENT_JSON_FORMAT = "cuewatch-attunement"
ATTUNEMENT_JSON_VERSION = 1
ATTUNEMENT_JSON_KEYS: tuple[str, ...] = (
    "format", "version", "video", "client", "therapist", "settings", "flags", "synchrony",
    "provenance",
)
#: each person: their transcript speaker and face track (None: not on camera).
ATTUNEMENT_PERSON_KEYS: tuple[str, ...] = ("speaker", "track")
ATTUNEMENT_FLAG_KEYS: tuple[str, ...] = (
    "id", "start", "end", "type", "response", "response_reason", "mirroring", "mirroring_reason",
)
ATTUNEMENT_RESPONSE_KEYS: tuple[str, ...] = ("kind", "evidence", "latency", "rule", "turns")
ATTUNEMENT_MIRRORING_KEYS: tuple[str, ...] = ("verdict", "changes")
ATTUNEMENT_SYNCHRONY_KEYS: tuple[str, ...] = (
    "z", "lag_s", "leader", "statistic", "surrogate_mean", "surrogate_sd", "signals", "over_time",
    "reason",
)
ATTUNEMENT_SIGNAL_KEYS: tuple[str, ...] = ("z", "lag_s")
#: why a face- or word-based measure has no value (the ``*_reason`` / ``reason`` fields).
THERAPIST_NOT_ON_CAMERA = "therapist not on camera"
CLIENT_NOT_ON_CAMERA = "client not on camera"
NO_SPEAKER_LABELS = "no speaker labels: whose words are the therapist's is unknown"
#: a project recording's attunement summary when it was never computed (no transcript, or
#: analysed before cuewatch stored it: analyse again, or recompute its flags).
ATTUNEMENT_NOT_COMPUTED = "attunement not computed"
#: response kinds (``cuewatch.words.response.RESPONSE_KINDS``) that count as a missed moment:
#: the app's "missed moments" filter, the summary's list, the exports' ``missed`` column.
MISSED_RESPONSE_KINDS: tuple[str, ...] = ("none", "moved_on")
#: response kinds that turn toward the moment: the summary's "share named or explored".
NAMED_OR_EXPLORED_KINDS: tuple[str, ...] = ("named", "explored")
#: the project exports' attunement of each flag (``cuewatch export``; README "Export
#: columns"): the trainee's response, its evidence and latency, and the mirroring verdict.
#: Columns appended to the flags CSV export, in order:
FLAGS_EXPORT_RESPONSE_COLUMNS: tuple[str, ...] = (
    "response_kind", "response_evidence", "response_latency_s", "response_turn_start",
    "response_rule", "response_reason", "missed", "mirroring", "mirroring_reason",
)
#: each flag's "response" object in the flags JSON export (null for a flag without one):
FLAGS_EXPORT_RESPONSE_KEYS: tuple[str, ...] = (
    "kind", "evidence", "latency_s", "turn_start", "rule", "reason", "missed", "mirroring",
    "mirroring_reason",
)
#: the flags JSON export's top-level "attunement" object (null: never computed):
FLAGS_EXPORT_ATTUNEMENT_KEYS: tuple[str, ...] = ("therapist", "summary", "synchrony")
#: the therapist's role label where an anonymised export would name them.
THERAPIST_ROLE_LABEL = "therapist"
FLAGS_CSV_COLUMNS: tuple[str, ...] = (
    "id", "start", "end", "type", "track", "stated_words", "stated_category", "stated_valence",
    "expressed_category", "expressed_valence", "severity", "confidence", "peak_time",
    "evidence_aus", "speaker",
)
#: what a transcript or mood file's name says it holds: suffix -> format read. The core
#: reads by these and the app's file dialogs and "transcript or mood file?" use them too.
TRANSCRIPT_FORMAT_BY_SUFFIX: dict[str, str] = {".vtt": "vtt", ".webvtt": "vtt", ".srt": "srt"}
MOOD_FORMAT_BY_SUFFIX: dict[str, str] = {".csv": "csv", ".tsv": "csv", ".json": "json"}
TRANSCRIPT_EXTENSIONS: tuple[str, ...] = tuple(TRANSCRIPT_FORMAT_BY_SUFFIX)
MOOD_EXTENSIONS: tuple[str, ...] = tuple(MOOD_FORMAT_BY_SUFFIX)


def file_dialog_filter(label: str, suffixes: tuple[str, ...]) -> str:
    """A file dialog's name filter: "Transcripts (*.vtt *.webvtt *.srt)"."""
    return f"{label} ({' '.join('*' + s for s in suffixes)})"


CONSENT_SCOPES: tuple[str, ...] = ("training", "supervision", "research")

#: CSV files are plain (a header row, then data: pandas, csv.DictReader and spreadsheets
#: read them as they are); their provenance is in a JSON file beside them, named
#: "<file name><PROVENANCE_SIDECAR_SUFFIX>" ("flags.csv.provenance.json").
PROVENANCE_SIDECAR_SUFFIX = ".provenance.json"
PROVENANCE_SIDECAR_FORMAT = "cuewatch-provenance"
PROVENANCE_SIDECAR_VERSION = 1

#: the sensitivity presets' data file (cuewatch/flags/operating_points.json), derived by
#: benchmarks/eval_operating_points.py (cuewatch.evaluation.operating_points).
OPERATING_POINTS_FILE = "operating_points.json"
OPERATING_POINTS_FORMAT = "cuewatch-operating-points"
OPERATING_POINTS_VERSION = 1
