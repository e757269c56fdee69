"""Issue 11 §1: move the flat core into subpackages by stage (git mv) and rewrite imports.

Run from the repository root, once. Idempotence is not attempted: it refuses to run when a
target already exists.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MOVES = {
    # media: reading video
    "video": "media.video",
    # faces: find, track, the face pass, the model it uses, whose face is the client's
    "model": "faces.model",
    "face_finding": "faces.finding",
    "face_tracking": "faces.tracking",
    "head_pose": "faces.head_pose",
    "analysis": "faces.face_pass",
    "malloc_arenas": "faces.malloc_arenas",
    "client_selection": "faces.client_face",
    # features: the per-track arrays on disk and their cache keys
    "features": "features.folder",
    # expression
    "action_units": "expression.action_units",
    "expression": "expression.series",
    "expression_store": "expression.cache",
    # words: transcript and stated mood
    "transcript": "words.transcript",
    "stated_mood": "words.stated_mood",
    # flags
    "incongruence": "flags.incongruence",
    # consent
    "consent": "consent.record",
    "consent_policy": "consent.policy",
    # one recording end to end
    "pipeline": "recording.analyse",
    # outputs of one analysed recording (analyze's folder), shared with exports
    "recording_outputs": "outputs.recording",
    "frames_csv": "outputs.frames_csv",
    "flags_files": "outputs.flags_files",
    # projects
    "project_store": "project.store",
    "project_schema": "project.schema",
    "project_analysis": "project.queue",
    "project_export": "project.export",
    "agreement": "flags.agreement",
    # added by branches made before the move
    "flag_matching": "flags.matching",
    "project_flags": "project.flag_recompute",
}

PACKAGE_DOCS = {
    "media": "Reading video: probing, decoding, sampling, decoder timestamps, rotation.",
    "faces": "Faces in the video: finding, tracking, the face pass and the model it runs.",
    "features": "The per-track feature arrays one face pass writes, on disk.",
    "expression": "What a face shows over time: action units, prototype matches, valence.",
    "words": "What the client says: transcripts and the mood each utterance states.",
    "flags": "Where the face conflicts with the stated mood: incongruence flags and gaps.",
    "consent": "Consent records and what they allow.",
    "recording": "One recording end to end: a pure function of (video, settings, model).",
    "outputs": "The files written for one analysed recording, shared with the exports.",
    "project": "Review projects: one SQLite file, its analysis queue, exports and agreement.",
}

#: modules of the packages that share a name with a moved module: never rewritten twice.
SUBMODULES = "series|cache|action_units|folder|keys|record|policy"

ROOT = Path.cwd()
TEXT_GLOBS = ["cuewatch/**/*.py", "ui/**/*.py", "tests/**/*.py", "benchmarks/**/*.py",
              "scripts/**/*.py", "docs/**/*.md", "README.md", "DEVELOPERS.md", "pyproject.toml",
              ".ci/run"]


def main() -> int:
    if sys.argv[1:] == ["--rewrite-only"]:
        return rewrite(after_move=True)
    for old, new in MOVES.items():
        src = ROOT / "cuewatch" / f"{old}.py"
        if not src.exists() and not (ROOT / "cuewatch" / (new.replace(".", "/") + ".py")).exists():
            print(f"missing {src}", file=sys.stderr)
            return 1
    for pkg, doc in PACKAGE_DOCS.items():
        d = ROOT / "cuewatch" / pkg
        d.mkdir(exist_ok=True)
    # expression.py must move before the expression/ package exists as a folder with the
    # same stem: git handles a file and a folder of different names, so move first.
    for old, new in MOVES.items():
        src = ROOT / "cuewatch" / f"{old}.py"
        dst = ROOT / "cuewatch" / (new.replace(".", "/") + ".py")
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", str(src), str(dst)], check=True)
    for pkg, doc in PACKAGE_DOCS.items():
        init = ROOT / "cuewatch" / pkg / "__init__.py"
        if not init.exists():
            init.write_text(f'"""{doc}"""\n')
            subprocess.run(["git", "add", str(init)], check=True)

    return rewrite(after_move=False)


def rewrite(after_move: bool) -> int:
    """After the move, a bare ``cuewatch.consent`` (or expression, features) names the new
    package, so those three are left alone then: fix old uses of them by hand."""
    names = sorted((n for n in MOVES if not (after_move and "." + n + "." in "." + MOVES[n])),
                   key=len, reverse=True)
    alt = "|".join(re.escape(n) for n in names)
    dotted = re.compile(rf"\bcuewatch\.({alt})\b(?!/)(?!\.({SUBMODULES})\b)")
    slashed = re.compile(rf"\bcuewatch/({alt})\.py\b")
    from_pkg = re.compile(rf"^(\s*)from cuewatch import ({alt})\b(.*)$", re.M)

    def sub_dotted(m: re.Match) -> str:
        return "cuewatch." + MOVES[m.group(1)]

    def sub_slashed(m: re.Match) -> str:
        return "cuewatch/" + MOVES[m.group(1)].replace(".", "/") + ".py"

    def sub_from(m: re.Match) -> str:
        pkg, mod = MOVES[m.group(2)].rsplit(".", 1)
        rest = m.group(3)
        alias = "" if rest.strip().startswith("as ") else f" as {m.group(2)}"
        return f"{m.group(1)}from cuewatch.{pkg} import {mod}{alias}{rest}"

    files: set[Path] = set()
    for g in TEXT_GLOBS:
        files.update(p for p in ROOT.glob(g) if p.is_file() and ".venv" not in p.parts
                     and not (after_move and p.name == "pyproject.toml"))
    changed = 0
    for p in sorted(files):
        text = p.read_text()
        new = from_pkg.sub(sub_from, text)
        new = dotted.sub(sub_dotted, new)
        new = slashed.sub(sub_slashed, new)
        if new != text:
            p.write_text(new)
            changed += 1
    print(f"moved {len(MOVES)} modules, rewrote {changed} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
