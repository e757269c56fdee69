"""``attunement.json``: per flag the trainee's response and the mirroring verdict, per session
the face synchrony, with provenance (``cuewatch.formats.ATTUNEMENT_*``; the README's
"Output files" documents every field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from cuewatch.attunement.session import Attunement
from cuewatch.files import write_text_atomic
from cuewatch.formats import (
    ATTUNEMENT_JSON_FORMAT,
    ATTUNEMENT_JSON_KEYS,
    ATTUNEMENT_JSON_VERSION,
    ATTUNEMENT_PERSON_KEYS,
)


def attunement_document(video: str, attunement: Attunement, client_speaker: Optional[str],
                        client_track: Optional[int], provenance: dict[str, Any]) -> dict[str, Any]:
    values = (ATTUNEMENT_JSON_FORMAT, ATTUNEMENT_JSON_VERSION, video,
              dict(zip(ATTUNEMENT_PERSON_KEYS, (client_speaker, client_track))),
              dict(zip(ATTUNEMENT_PERSON_KEYS, (attunement.therapist_speaker,
                                                attunement.therapist_track))),
              attunement.settings_dict(), [f.to_dict() for f in attunement.flags],
              attunement.synchrony_dict(), provenance)
    return dict(zip(ATTUNEMENT_JSON_KEYS, values))


def write_attunement_json(path: Path, video: str, attunement: Attunement,
                          client_speaker: Optional[str], client_track: Optional[int],
                          provenance: dict[str, Any]) -> Path:
    """Write attunement.json atomically; returns its path."""
    doc = attunement_document(video, attunement, client_speaker, client_track, provenance)
    write_text_atomic(path, json.dumps(doc, indent=1))
    return path
