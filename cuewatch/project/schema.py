"""The SQL schema of a project file (``*.cuewatch``) and its migrations.

The schema version is SQLite's ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes a file
from version ``i`` to ``i + 1``. Each migration runs inside one transaction together with
the version bump (SQLite DDL is transactional), so a crash mid-migration leaves the file
at its old version. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Union

#: what ``meta.application`` holds in every project file: how a project is told apart
#: from any other SQLite file.
APPLICATION_ID = "cuewatch-project"

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE recordings (
    id             INTEGER PRIMARY KEY,
    path           TEXT NOT NULL,            -- relative to the project folder where possible
    sha256         TEXT NOT NULL UNIQUE,     -- content hash: finds a moved file again
    size_bytes     INTEGER NOT NULL,
    duration       REAL NOT NULL DEFAULT 0,
    fps            REAL NOT NULL DEFAULT 0,
    width          INTEGER NOT NULL DEFAULT 0,
    height         INTEGER NOT NULL DEFAULT 0,
    metadata       TEXT NOT NULL DEFAULT '{}',   -- JSON: codec, rotation, frame_count, ...
    client_speaker TEXT,                     -- as the user gave it (None: choose)
    client_face    TEXT NOT NULL DEFAULT 'auto',
    client_track   INTEGER,                  -- the track the analysis chose or was told
    added          TEXT NOT NULL
);

CREATE TABLE consents (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    document     TEXT NOT NULL,              -- the consent JSON as recorded
    scopes       TEXT NOT NULL,              -- JSON list
    obtained     TEXT NOT NULL,
    expires      TEXT,
    recorded_by  TEXT,
    source       TEXT,
    status       TEXT NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'superseded', 'revoked')),
    entered      TEXT NOT NULL,
    entered_by   TEXT NOT NULL,
    revoked      TEXT,
    revoked_by   TEXT
);
CREATE UNIQUE INDEX consents_one_active ON consents(recording_id) WHERE status = 'active';

CREATE TABLE transcripts (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('transcript', 'mood')),
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    added        TEXT NOT NULL,
    UNIQUE (recording_id, kind)
);

CREATE TABLE analyses (
    id               INTEGER PRIMARY KEY,
    recording_id     INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    parameters       TEXT NOT NULL,          -- JSON: analysis and flag settings
    model_sha256     TEXT,                   -- set when the analysis runs
    cuewatch_version TEXT NOT NULL,
    cache_key        TEXT,                   -- content hash + model + parameters
    features_dir     TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    message          TEXT NOT NULL DEFAULT '',
    error            TEXT,
    worker           TEXT,                   -- host:pid while running
    attempts         INTEGER NOT NULL DEFAULT 0,
    warnings         TEXT NOT NULL DEFAULT '[]',
    queued           TEXT NOT NULL,
    started          TEXT,
    finished         TEXT
);
CREATE INDEX analyses_state ON analyses(state, id);
CREATE INDEX analyses_recording ON analyses(recording_id, id);

CREATE TABLE tracks (
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    track_id     INTEGER NOT NULL,
    start        REAL NOT NULL,
    end          REAL NOT NULL,
    n_frames     INTEGER NOT NULL,
    coverage     REAL NOT NULL,
    mean_bbox    TEXT NOT NULL,              -- JSON [x0, y0, x1, y1]
    PRIMARY KEY (recording_id, track_id)
);

CREATE TABLE mood_segments (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    start        REAL NOT NULL,
    end          REAL NOT NULL,
    speaker      TEXT,
    text         TEXT NOT NULL DEFAULT '',
    valence      REAL,
    category     TEXT,
    certainty    REAL NOT NULL DEFAULT 1,
    line         INTEGER
);
CREATE INDEX mood_segments_recording ON mood_segments(recording_id, start);

CREATE TABLE flags (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    start        REAL NOT NULL,
    end          REAL NOT NULL,
    type         TEXT NOT NULL,
    track        INTEGER,
    severity     REAL NOT NULL,
    confidence   REAL NOT NULL,
    stated       TEXT NOT NULL,              -- JSON
    expressed    TEXT NOT NULL,              -- JSON
    evidence     TEXT NOT NULL               -- JSON
);
CREATE INDEX flags_recording ON flags(recording_id, start);

CREATE TABLE gaps (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    start        REAL NOT NULL,
    end          REAL NOT NULL,
    track        INTEGER,
    reason       TEXT NOT NULL
);
CREATE INDEX gaps_recording ON gaps(recording_id, start);

CREATE TABLE reviews (
    id       INTEGER PRIMARY KEY,
    flag_id  INTEGER NOT NULL REFERENCES flags(id) ON DELETE CASCADE,
    reviewer TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
    verdict  TEXT NOT NULL CHECK (verdict IN ('agree', 'disagree', 'unsure')),
    note     TEXT NOT NULL DEFAULT '',
    time     TEXT NOT NULL,
    current  INTEGER NOT NULL DEFAULT 1,     -- the reviewer's verdict in force on this flag
    undone   INTEGER NOT NULL DEFAULT 0      -- taken back with undo
);
CREATE UNIQUE INDEX reviews_one_current ON reviews(flag_id, reviewer) WHERE current = 1;
CREATE INDEX reviews_reviewer ON reviews(reviewer, id);
CREATE INDEX reviews_flag ON reviews(flag_id, id);

CREATE TABLE annotations (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    start        REAL NOT NULL,
    end          REAL NOT NULL CHECK (end >= start),
    label        TEXT NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    reviewer     TEXT NOT NULL,
    created      TEXT NOT NULL
);
CREATE INDEX annotations_recording ON annotations(recording_id, start);

-- who did what, when. No foreign key: entries outlive what they describe.
CREATE TABLE audit (
    id           INTEGER PRIMARY KEY,
    time         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    recording_id INTEGER,
    detail       TEXT NOT NULL DEFAULT '{}'  -- JSON
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# v2: files cuewatch wrote out of the project (exports), so that revoking consent can
# delete the clips and tables it knows of.
_V2 = """
CREATE TABLE exported_files (
    id           INTEGER PRIMARY KEY,
    recording_id INTEGER REFERENCES recordings(id) ON DELETE SET NULL,
    path         TEXT NOT NULL,              -- absolute
    format       TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    created      TEXT NOT NULL,
    actor        TEXT NOT NULL,
    deleted      TEXT
);
CREATE INDEX exported_files_recording ON exported_files(recording_id);
"""



def _v3(conn: sqlite3.Connection) -> None:
    """The client speaker the analysis chose; exports noted before they start (so a killed
    export can be named when consent is revoked). Columns a pre-release file may already
    have are left as they are."""
    for table, column, decl in (
            ("recordings", "chosen_speaker", "TEXT"),
            ("exported_files", "pending", "INTEGER NOT NULL DEFAULT 0")):
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


# v4: a verdict belongs to a moment, not a row: a recompute that no longer raises a flag
# with verdicts retires it (raised = 0) instead of deleting it with its reviews; the
# verdicts stay listed and exported as orphaned, and re-attach when the flag comes back
# (``cuewatch.flags.matching``).
_V4 = """
ALTER TABLE flags ADD COLUMN raised INTEGER NOT NULL DEFAULT 1 CHECK (raised IN (0, 1));
"""

# v5: where a reviewer marked a person's face neutral, per recording and face track. The
# expression of that track is read against it (flags, the app's lanes, every export)
# instead of the neutral found automatically.
_V5 = """
CREATE TABLE neutral_spans (
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    track_id     INTEGER NOT NULL,
    start        REAL NOT NULL CHECK (start >= 0),
    end          REAL NOT NULL CHECK (end > start),
    marked_by    TEXT NOT NULL,
    time         TEXT NOT NULL,
    PRIMARY KEY (recording_id, track_id)
);
"""

# v6: attunement (issue 13). Who the therapist is (as the user gave it, and as the analysis
# chose it: their transcript speaker and face track); per raised flag the trainee's response
# and the mirroring verdict (recomputed with the flags, keyed by the flag's id: a deleted
# flag takes its response with it, a retired one keeps none); per recording the session
# synchrony (computed once per analysis: it does not depend on the flags). A project from
# before gains them on its next analysis or flag recompute.
_V6 = """
ALTER TABLE recordings ADD COLUMN therapist_speaker TEXT;          -- as the user gave it
ALTER TABLE recordings ADD COLUMN therapist_face TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE recordings ADD COLUMN chosen_therapist_speaker TEXT;   -- as the analysis chose it
ALTER TABLE recordings ADD COLUMN therapist_track INTEGER;         -- None: not on camera

CREATE TABLE flag_responses (
    flag_id          INTEGER PRIMARY KEY REFERENCES flags(id) ON DELETE CASCADE,
    recording_id     INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,            -- a response kind, or '' (see reason)
    reason           TEXT NOT NULL DEFAULT '',
    evidence         TEXT NOT NULL DEFAULT '',
    latency          REAL,
    turn_start       REAL,
    rule             TEXT NOT NULL DEFAULT '',
    mirroring        TEXT,                     -- a mirroring verdict, or NULL (see mirroring_reason)
    mirroring_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX flag_responses_recording ON flag_responses(recording_id);

CREATE TABLE synchrony (
    recording_id INTEGER PRIMARY KEY REFERENCES recordings(id) ON DELETE CASCADE,
    z            REAL,
    lag_s        REAL,
    leader       TEXT,
    statistic    REAL,
    reason       TEXT NOT NULL DEFAULT '',
    document     TEXT NOT NULL,                -- JSON: attunement.json's "synchrony" object
    settings     TEXT NOT NULL,                -- JSON: the response and synchrony settings
    computed     TEXT NOT NULL
);
"""

Migration = Union[str, Callable[[sqlite3.Connection], None]]

#: ``MIGRATIONS[i]`` takes a project from schema version i to i + 1: an SQL script, or a
#: function for steps that must look before they change.
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _v3, _V4, _V5, _V6)

#: the schema version this cuewatch writes.
SCHEMA_VERSION = len(MIGRATIONS)

#: tables every project of the current version has (checked on open).
REQUIRED_TABLES: frozenset[str] = frozenset({
    "meta", "recordings", "consents", "transcripts", "analyses", "tracks", "mood_segments",
    "flags", "gaps", "reviews", "annotations", "audit", "exported_files", "neutral_spans",
    "flag_responses", "synchrony",
})
