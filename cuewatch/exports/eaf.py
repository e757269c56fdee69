"""``cuewatch export --format eaf``: an ELAN annotation file (EAF 3.0) per recording.

Built with ``pympi-ling`` (as an ELAN user's own scripts read it) and linked to the
video by absolute and relative media URL, so ELAN opens both together. Tiers
(``EAF_TIERS`` names; a tier whose annotations would overlap spills into "NAME (2)"):

- ``client utterances`` and ``client stated mood``: the client's words and the mood they
  state, one annotation per utterance;
- ``utterances: SPEAKER`` for each other speaker (the therapist, a listener);
- ``client expression``: the client's expression spans (prototype matches);
- ``flags``: "TYPE, severity S: stated X vs expressed Y";
- ``client face not seen``: the gaps, where no verdict is possible;
- ``therapist responses``: over each flagged moment, the trainee's response to it (kind,
  latency, the words that decided it) and whether their face moved toward the client's;
- ``verdicts: REVIEWER``: each reviewer's current verdict and note on each flag;
- ``annotations: REVIEWER``: manual annotations, "LABEL: NOTE".

Provenance is stored as EAF header properties ``cuewatch_version``, ``model_sha256``,
``parameters`` (JSON), ``created``, plus ``cuewatch_export``.
"""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path, PurePosixPath
from typing import Optional
from urllib.parse import quote

import pympi

from cuewatch.exports import ExportBundle, per_recording
from cuewatch.exports.describe import flag_summary, response_text, segment_mood_text, verdict_text
from cuewatch.exports.naming import path_in
from cuewatch.files import write_text_atomic
from cuewatch.progress import Progress
from cuewatch.provenance import provenance_items

EAF_VERSION = "3.0"
EAF_SCHEMA = "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"
EAF_EXPORT_VERSION = 2  # v2: the therapist responses tier

TIER_CLIENT_UTTERANCES = "client utterances"
TIER_CLIENT_MOOD = "client stated mood"
TIER_OTHER_PREFIX = "utterances: "
TIER_EXPRESSION = "client expression"
TIER_FLAGS = "flags"
TIER_GAPS = "client face not seen"
TIER_RESPONSES = "therapist responses"
TIER_VERDICT_PREFIX = "verdicts: "
TIER_ANNOTATION_PREFIX = "annotations: "
EAF_TIERS: tuple[str, ...] = (
    TIER_CLIENT_UTTERANCES, TIER_CLIENT_MOOD, TIER_OTHER_PREFIX + "SPEAKER", TIER_EXPRESSION,
    TIER_FLAGS, TIER_GAPS, TIER_RESPONSES, TIER_VERDICT_PREFIX + "REVIEWER", TIER_ANNOTATION_PREFIX + "REVIEWER",
)

# ELAN's own media MIME types; anything else as the generic video type.
_ELAN_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mpg": "video/mpeg",
              ".mpeg": "video/mpeg", ".mov": "video/quicktime", ".wav": "audio/x-wav"}

_LINGUISTIC_TYPES = ("utterance", "mood", "expression", "flag", "gap", "response", "verdict",
                     "annotation")


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    """One line of text XML 1.0 can hold (control characters and lone surrogates go)."""
    return " ".join(_XML_INVALID.sub("", str(value)).split())


def _ms(seconds: float) -> int:
    return max(0, int(round(float(seconds) * 1000.0)))


class _TierWriter:
    """Adds annotations to named tiers, opening "NAME (2)" where one would overlap."""

    def __init__(self, eaf: pympi.Elan.Eaf) -> None:
        self.eaf = eaf
        self._ends: dict[str, int] = {}

    def open(self, tier: str, ling: str, participant: Optional[str] = None) -> None:
        """Create an empty tier now, so tiers appear in ELAN in a fixed order."""
        self.eaf.add_tier(tier, ling=ling, part=participant)
        self._ends[tier] = 0

    def add(self, tier: str, ling: str, start: float, end: float, value: str,
            participant: Optional[str] = None) -> str:
        tier = xml_text(tier) or "unnamed"
        participant = xml_text(participant) if participant else None
        a, b = _ms(start), _ms(end)
        if b <= a:
            b = a + 1  # ELAN has no zero-length alignable annotations
        lane, name = 1, tier
        while name in self._ends and self._ends[name] > a:
            lane += 1
            name = f"{tier} ({lane})"
        if name not in self.eaf.tiers:
            self.eaf.add_tier(name, ling=ling, part=participant)
        self.eaf.add_annotation(name, a, b, value=xml_text(value))
        self._ends[name] = max(self._ends.get(name, 0), b)
        return name


def _media_urls(bundle: ExportBundle, eaf_dir: Path, anonymise: bool) -> tuple[str, Optional[str]]:
    """(MEDIA_URL, RELATIVE_MEDIA_URL). Anonymised: the pseudonym ("R1.mp4"), no folders:
    the user puts the video there under that name."""
    if anonymise:
        name = quote(bundle.media_name(True))
        return "file:///" + name, "./" + name
    absolute = bundle.media_path.resolve()
    try:
        rel = os.path.relpath(absolute, eaf_dir.resolve())
        rel_url = quote(str(PurePosixPath(*Path(rel).parts)))
        rel_url = rel_url if rel_url.startswith("..") else "./" + rel_url
    except ValueError:  # another drive on Windows
        rel_url = None
    return absolute.as_uri(), rel_url


def build_eaf(bundle: ExportBundle, eaf_dir: Path, anonymise: bool) -> pympi.Elan.Eaf:
    """The ELAN document of one recording."""
    eaf = pympi.Elan.Eaf(author="cuewatch")
    eaf.adocument.update({"VERSION": EAF_VERSION, "FORMAT": EAF_VERSION,
                          "xsi:noNamespaceSchemaLocation": EAF_SCHEMA})
    eaf.header.update({"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    eaf.remove_tier("default")
    for ling in _LINGUISTIC_TYPES:
        eaf.add_linguistic_type(ling)
    eaf.remove_linguistic_type("default-lt")

    url, rel = _media_urls(bundle, eaf_dir, anonymise)
    mime = _ELAN_MIME.get(bundle.media_path.suffix.lower()) or (
        mimetypes.guess_type(bundle.media_path.name)[0] or "video/*")
    eaf.add_linked_file(url, relpath=rel, mimetype=mime)

    eaf.properties = [(k, v) for k, v in eaf.properties if k != "lastUsedAnnotation"]
    for key, value in provenance_items(bundle.provenance):
        eaf.add_property(key, xml_text(value))
    eaf.add_property("cuewatch_export", f"eaf v{EAF_EXPORT_VERSION}")

    tiers = _TierWriter(eaf)
    client = (xml_text(bundle.speaker_label(bundle.client_speaker, anonymise))
              if bundle.client_speaker else None)
    # fixed tiers first, so ELAN lists them in a stable order even when empty
    for name, ling in ((TIER_CLIENT_UTTERANCES, "utterance"), (TIER_CLIENT_MOOD, "mood"),
                       (TIER_EXPRESSION, "expression"), (TIER_FLAGS, "flag"), (TIER_GAPS, "gap")):
        tiers.open(name, ling, client if name != TIER_FLAGS else None)

    for seg in sorted(bundle.segments, key=lambda s: (s.start, s.end)):
        if bundle.is_client(seg):
            tiers.add(TIER_CLIENT_UTTERANCES, "utterance", seg.start, seg.end, seg.text, client)
            if seg.category or seg.valence is not None:
                tiers.add(TIER_CLIENT_MOOD, "mood", seg.start, seg.end, segment_mood_text(seg), client)
        else:
            who = bundle.speaker_label(seg.speaker, anonymise)
            tiers.add(TIER_OTHER_PREFIX + who, "utterance", seg.start, seg.end, seg.text, who)
    for start, end, category in sorted(bundle.expression_spans or []):
        tiers.add(TIER_EXPRESSION, "expression", start, end, str(category), client)
    order = sorted(range(len(bundle.flags)), key=lambda i: bundle.flags[i].start)
    for i in order:
        flag = bundle.flags[i]
        tiers.add(TIER_FLAGS, "flag", flag.start, flag.end,
                  f"#{bundle.flag_key(i)} {flag_summary(flag)}")
    for gap in sorted(bundle.gaps, key=lambda g: g.start):
        tiers.add(TIER_GAPS, "gap", gap.start, gap.end, gap.reason, client)
    if bundle.has_attunement():
        therapist = bundle.speaker_label(bundle.therapist_speaker, anonymise) \
            if bundle.therapist_speaker is not None else None
        tiers.open(TIER_RESPONSES, "response", therapist)
        for i in order:
            response = bundle.response(bundle.flags[i])
            if response is not None:
                tiers.add(TIER_RESPONSES, "response", bundle.flags[i].start, bundle.flags[i].end,
                          f"#{bundle.flag_key(i)} {response_text(response)}", therapist)
    for i in order:
        flag = bundle.flags[i]
        for review in bundle.current_reviews(flag):
            tiers.add(TIER_VERDICT_PREFIX + review.reviewer, "verdict", flag.start, flag.end,
                      f"#{bundle.flag_key(i)} {verdict_text(review)}", None)
    for ann in sorted(bundle.annotations, key=lambda a: a.start):
        who = ann.reviewer or "unknown reviewer"
        note = " ".join(ann.note.split())
        tiers.add(TIER_ANNOTATION_PREFIX + who, "annotation", ann.start, ann.end,
                  f"{ann.label}: {note}" if note else ann.label, None)

    eaf.add_property("lastUsedAnnotation", eaf.maxaid)
    return eaf


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None) -> list[Path]:
    """Write ``LABEL.eaf`` per recording."""

    def write_one(bundle: ExportBundle, label: str, out_dir: Path) -> list[Path]:
        target = path_in(out_dir, f"{label}.eaf")
        eaf = build_eaf(bundle, target.parent, anonymise)
        xml = pympi.Elan.to_string(eaf, pretty=True, encoding="unicode")
        return [write_text_atomic(target, '<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n")]
    return per_recording("eaf", bundles, out_dir, anonymise, progress, write_one)
