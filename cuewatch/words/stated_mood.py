"""Stated mood: what a client says they feel, read from their words.

Incongruence needs the *stated* side to be conservative: a sentence that states no
feeling must read as neutral (or as nothing), never as positive or negative, or the
flagger would raise false alarms on every plain account of the week. So the reading is
driven by an emotion vocabulary of our own (which also gives the mood category), with
rules for negation ("not happy"), fixed idioms ("never better", "could be better"),
intensifiers ("really", "so") and hedges ("I guess", "kind of"). VADER
(``vaderSentiment``) supplies its negation and booster word lists and, for strongly
valenced words our vocabulary does not know ("thrilled", "devastated", "died"), its
lexicon; VADER's own compound score is not used as is because it scores neutral
sentences ("nothing special happened") and idioms ("never better") with the wrong sign.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

from vaderSentiment import vaderSentiment as _vader

from cuewatch.domain import MoodSegment
from cuewatch.formats import CATEGORY_POLARITY, EXPRESSION_CATEGORIES, NEUTRAL_BAND
from cuewatch.rule_numbers import RULES as _R

#: Categories a stated mood can take: the expression prototypes plus "calm", which people
#: say ("I'm fine", "relaxed") and which the face can contradict (fear).
STATED_CATEGORIES: tuple[str, ...] = EXPRESSION_CATEGORIES + ("calm",)


def polarity(valence: Optional[float]) -> Optional[str]:
    """'pos', 'neg' or 'neu' for a stated valence (None when nothing is stated).

    One threshold for everyone, so a mild "I guess I'm okay" is never read as a claim.
    """
    if valence is None:
        return None
    if valence >= NEUTRAL_BAND:
        return "pos"
    if valence <= -NEUTRAL_BAND:
        return "neg"
    return "neu"


# --------------------------------------------------------------------------- vocabulary
# word or phrase -> (valence, category). Valence is the plain, unintensified strength.
_HAPPY = {
    "happy": 0.7, "happier": 0.6, "happiest": 0.8, "glad": 0.6, "joyful": 0.8, "joy": 0.7,
    "delighted": 0.8, "thrilled": 0.85, "excited": 0.7, "ecstatic": 0.9, "elated": 0.85,
    "cheerful": 0.7, "great": 0.65, "good": 0.5, "wonderful": 0.8, "fantastic": 0.8,
    "amazing": 0.75, "awesome": 0.75, "brilliant": 0.7, "excellent": 0.7, "lovely": 0.6,
    "grateful": 0.6, "thankful": 0.55, "proud": 0.6, "hopeful": 0.5, "optimistic": 0.5,
    "blessed": 0.6, "lucky": 0.45, "pleased": 0.6, "satisfied": 0.5, "fulfilled": 0.6,
    "enjoying": 0.55, "enjoyed": 0.55, "enjoy": 0.5, "love": 0.6, "loved": 0.6,
    "loving": 0.6, "fun": 0.5, "energized": 0.55, "energised": 0.55, "motivated": 0.5,
    "confident": 0.5, "good mood": 0.55, "great mood": 0.65, "over the moon": 0.9, "on cloud nine": 0.9,
    "on top of the world": 0.85, "walking on air": 0.85, "looking up": 0.5,
    "on the mend": 0.4, "better": 0.4, "the best": 0.65,
    "looking forward": 0.55, "look forward": 0.5, "going my way": 0.55, "going our way": 0.55,
}
_CALM = {
    "calm": 0.45, "calmer": 0.45, "relaxed": 0.5, "peaceful": 0.55, "serene": 0.55,
    "rested": 0.4, "comfortable": 0.35, "settled": 0.35, "fine": 0.35, "okay": 0.2,
    "ok": 0.2, "alright": 0.2, "all right": 0.2, "content": 0.45, "composed": 0.35,
    "grounded": 0.4, "safe": 0.35, "secure": 0.35, "relieved": 0.5, "chill": 0.35,
    "at peace": 0.55, "at ease": 0.45, "in a good place": 0.6, "in a better place": 0.55,
    "doing well": 0.5, "feeling well": 0.45, "going well": 0.5, "been well": 0.45,
    "went well": 0.45, "gone well": 0.45, "i'm well": 0.45, "am well": 0.45,
    "all good": 0.5, "so far so good": 0.4, "no worries": 0.25, "lighter": 0.45,
    "coping": 0.3, "managing": 0.25, "sleeping well": 0.35, "in a great place": 0.65,
    "on top of things": 0.45, "going to plan": 0.4, "according to plan": 0.35,
}
_SAD = {
    "sad": -0.65, "sadness": -0.65, "down": -0.55, "low": -0.5, "blue": -0.5,
    "depressed": -0.75, "depression": -0.7, "unhappy": -0.6, "miserable": -0.8,
    "hopeless": -0.8, "helpless": -0.6, "lonely": -0.6, "alone": -0.4, "empty": -0.5,
    "heartbroken": -0.85, "devastated": -0.85, "gutted": -0.7, "grief": -0.7,
    "grieving": -0.7, "crying": -0.6, "cried": -0.6, "cry": -0.55, "tears": -0.5,
    "tearful": -0.6, "upset": -0.55, "hurt": -0.55, "hurting": -0.6,
    "disappointed": -0.5, "discouraged": -0.5, "exhausted": -0.45, "tired": -0.35,
    "drained": -0.45, "numb": -0.4, "gloomy": -0.55, "glum": -0.5, "sorrow": -0.65,
    "guilty": -0.5, "ashamed": -0.55, "worthless": -0.8, "struggling": -0.5,
    "awful": -0.7, "terrible": -0.7, "horrible": -0.7, "bad": -0.5, "rough": -0.4,
    "hard": -0.3, "difficult": -0.3, "tough": -0.3, "worse": -0.5, "lost": -0.45,
    "broken": -0.6, "sucks": -0.55, "crap": -0.5, "crappy": -0.5, "lousy": -0.55,
    "rubbish": -0.5, "flat": -0.35, "heavy": -0.4, "defeated": -0.6, "despair": -0.8, "grim": -0.5,
    "nightmare": -0.7, "breaking point": -0.75, "heartbreaking": -0.8,
    "worn out": -0.45, "burnt out": -0.55, "burned out": -0.55, "a mess": -0.6,
    "a wreck": -0.65, "falling apart": -0.7, "in a bad place": -0.7,
    "in a dark place": -0.75, "down in the dumps": -0.7, "under the weather": -0.4,
    "beside myself": -0.65, "could cry": -0.5,
    "heavy hearted": -0.6, "in a tough place": -0.6, "in a difficult place": -0.6,
    "sleeping badly": -0.4, "bad mood": -0.5, "foul mood": -0.6, "low mood": -0.55, "the worst": -0.7, "miss her": -0.55, "miss him": -0.55,
    "pointless": -0.6, "meaningless": -0.6, "no point": -0.55, "nothing matters": -0.6,
    "let down": -0.5, "stuck": -0.4, "trapped": -0.55, "useless": -0.6, "a failure": -0.65,
    "miss them": -0.55, "miss you": -0.55, "miss my": -0.55, "missing her": -0.55,
    "missing him": -0.55, "missing them": -0.55, "missing my": -0.55, "homesick": -0.5,
}
_FEARFUL = {
    "anxious": -0.6, "anxiety": -0.6, "nervous": -0.5, "scared": -0.7, "afraid": -0.7,
    "scares": -0.6, "scary": -0.55, "frightens": -0.6, "terrifies": -0.8, "terrifying": -0.8,
    "frightening": -0.65, "worries": -0.5,
    "frightened": -0.7, "terrified": -0.9, "petrified": -0.9, "worried": -0.55,
    "worry": -0.5, "worrying": -0.55, "fear": -0.6, "fearful": -0.65, "panic": -0.7,
    "panicky": -0.7, "panicking": -0.75, "uneasy": -0.4, "tense": -0.45,
    "stressed": -0.5, "stress": -0.45, "stressful": -0.45, "overwhelmed": -0.6,
    "jittery": -0.45, "jumpy": -0.4, "restless": -0.3, "apprehensive": -0.45,
    "dread": -0.7, "dreading": -0.7, "insecure": -0.4, "unsafe": -0.6, "paranoid": -0.5,
    "shaky": -0.4, "on edge": -0.55, "freaking out": -0.7, "freaked out": -0.7,
    "stressed out": -0.55, "at my wits end": -0.75, "at the end of my rope": -0.75,
    "at the end of my tether": -0.75,
}
_ANGRY = {
    "angry": -0.7, "anger": -0.65, "mad": -0.6, "furious": -0.9, "livid": -0.9,
    "annoyed": -0.45, "annoying": -0.4, "irritated": -0.45, "irritable": -0.4,
    "frustrated": -0.5, "frustrating": -0.45, "frustration": -0.5, "resentful": -0.55,
    "bitter": -0.5, "pissed": -0.7, "outraged": -0.85, "enraged": -0.9, "fuming": -0.8,
    "hate": -0.7, "hatred": -0.75, "rage": -0.85, "infuriated": -0.85,
    "infuriating": -0.8, "aggravated": -0.5, "betrayed": -0.6, "cross": -0.4,
    "pissed off": -0.75, "ticked off": -0.6, "fed up": -0.55, "sick of": -0.55,
    "sick and tired": -0.6, "had enough": -0.55, "lost it": -0.5,
}
_DISGUSTED = {
    "disgusted": -0.7, "disgusting": -0.7, "gross": -0.5, "repulsed": -0.75,
    "revolted": -0.75, "sickened": -0.7, "grossed out": -0.6, "nauseated": -0.5,
}
_SURPRISED = {
    "surprised": 0.05, "surprise": 0.05, "shocked": -0.25, "stunned": -0.1,
    "astonished": 0.1, "amazed": 0.4,
}
_CONTEMPT = {"contempt": -0.5, "contemptuous": -0.5, "scornful": -0.5, "disdain": -0.5}
#: Words that state the absence of a mood: "the usual", "nothing special".
_NEUTRAL = (
    "neutral", "the usual", "as usual", "usual", "ordinary", "normal", "nothing special",
    "nothing much", "not much", "nothing new", "same as always", "same as usual",
    "same old", "so so", "meh", "average", "uneventful", "routine", "unremarkable",
    "neither good nor bad", "ups and downs", "up and down", "mixed", "nothing to report",
    "nothing happened",
)


def _build_vocabulary() -> dict[tuple[str, ...], tuple[float, str]]:
    vocab: dict[tuple[str, ...], tuple[float, str]] = {}
    for category, words in (
        ("happy", _HAPPY), ("calm", _CALM), ("sad", _SAD), ("fearful", _FEARFUL),
        ("angry", _ANGRY), ("disgusted", _DISGUSTED), ("surprised", _SURPRISED),
        ("contempt", _CONTEMPT),
    ):
        for phrase, valence in words.items():
            vocab[tuple(phrase.split())] = (valence, category)
    for phrase in _NEUTRAL:
        vocab[tuple(phrase.split())] = (0.0, "neutral")
    return vocab


VOCABULARY: dict[tuple[str, ...], tuple[float, str]] = _build_vocabulary()
_MAX_PHRASE = max(len(k) for k in VOCABULARY)

#: Words that mean a mood only after "I'm", "feel", "been"... ("I feel down" but "sat
#: down"; "I'm fine" but "fine print"; "okay, so..."). Alone as a whole answer they count.
_NEEDS_CONTEXT = frozenset({
    "down", "low", "blue", "flat", "alone", "empty", "lost", "broken", "better", "fine",
    "okay", "ok", "alright", "all right", "content", "safe", "secure", "cross", "mad",
    "settled", "rough", "hard", "difficult", "tough", "bad", "good", "great", "fun",
    "love", "loved", "hate", "cry", "worry", "fear", "stress", "rage", "anger", "joy",
    "surprise", "usual", "normal", "average", "routine", "mixed", "chill", "comfortable",
    "rested", "grim", "worse", "crap", "gross", "neutral", "lighter", "heavy", "managing",
})
_CONTEXT_WORDS = frozenset({
    "am", "i'm", "im", "is", "it's", "its", "that's", "thats", "are", "we're", "they're",
    "things're", "was", "were", "be", "been", "being", "feel", "feels", "feeling",
    "felt", "seem", "seems", "seemed", "look", "looks", "looked", "doing", "getting",
    "got", "get", "gets", "stay", "staying", "remain", "still", "pretty", "quite",
    "very", "really", "so", "too", "super", "totally", "extremely", "bit", "little",
    "fairly", "rather", "somewhat", "slightly", "all", "kinda", "sorta", "and", "or", "not", "never", "isn't", "wasn't", "aren't", "weren't", "don't",
    "didn't", "doesn't", "hasn't", "haven't", "a", "an", "the", "such", "week", "day",
    "month", "year", "time", "morning", "night", "weekend", "everything's",
    "everything", "things", "life", "work", "i've", "ive", "i'd", "we've", "you're",
    "he's", "she's", "had", "have", "has", "having", "me", "makes", "made", "make", "keep",
    "keeps", "kept", "went", "go",
    "goes", "going", "sounds", "with", "of", "about", "at",
})
_DISCOURSE_MARKERS = frozenset({"okay", "ok", "alright", "all"})
#: Subjects that make an ambiguous mood word about the speaker's state.
_SELF_WORDS = frozenset({
    "i", "i'm", "im", "i've", "ive", "i'd", "i'll", "me", "my", "myself", "we", "we're",
    "we've", "us", "our", "it", "it's", "its", "that", "that's", "thats", "things",
    "everything", "everything's", "life", "work", "week", "day", "today", "this", "all",
    "feel", "feeling", "felt", "month", "year", "weekend", "lately", "you",
})
#: VADER words that are conversation, not mood ("like", "well", "yes", "no", "kind").
_VADER_STOPWORDS = frozenset({
    "like", "likes", "liked", "well", "yes", "yeah", "yea", "no", "please", "pretty",
    "sure", "ok", "okay", "special", "thank", "thanks", "kind", "matter", "want",
    "wants", "care", "cares", "help", "helps", "helped", "honestly", "honest", "true",
    "truth", "god", "super", "clean", "free", "feeling", "feelings", "lol", "haha",
    "joke", "interesting", "hope", "hopes", "hoped", "agree", "agreed", "play",
    "playing", "party", "friend", "friends", "friendly", "share", "support", "welcome",
    "ready", "fair", "easy", "easily", "whatever", "serious", "seriously", "mean",
    "alright", "fine", "huge", "big", "hard", "tough", "weird", "strange", "funny",
    "ha", "wow", "oh", "ah", "damn", "hell", "reach", "reached", "respect",
    "important", "worth", "trust", "dear", "chance", "certain", "certainly", "sweet",
    "smile", "smiled", "smiles", "laugh", "laughed", "yep", "win", "won", "best",
    "solid", "united", "save", "saved", "promise", "promised", "hug", "hugs", "kiss",
    "pay", "paid", "jobless", "miss", "missed", "missing", "shit", "fuck", "fucking",
    "heck", "lmao", "ugh", "hmm", "question", "questions", "problem", "problems",
    "issue", "issues", "wrong", "accept", "accepted", "justice", "fight", "fighting",
    "attack", "stop", "stopped", "stuck", "tired", "hurt", "bad", "good", "great",
    "break", "breaks", "broke",
    "better", "worse", "lost", "lose", "losing", "leave", "left",
})
#: Words that turn a mood around: VADER's list plus a few it lacks.
_NEGATORS = (frozenset(_vader.NEGATE) - {"despite", "without"}) | {
    "no", "hardly", "barely", "nobody", "neither", "nor", "nowhere", "scarcely", "isnt",
}
_INTENSIFIERS = frozenset(
    w for w, v in _vader.BOOSTER_DICT.items() if v > 0 and " " not in w
) | {"so", "really", "very", "too", "such", "super", "truly", "deeply", "terribly", "lot",
     "much", "way", "far", "even"}
_DIMINISHERS = frozenset({
    "bit", "little", "slightly", "somewhat", "mildly", "partly", "fairly", "rather",
    "marginally", "moderately", "quite",  # "quite" is mild in British usage
})
_NEGATION_WINDOW = _R.stated_mood.negation_window
#: words that may stand between "things are" and the mood word without changing it.
_TIME_ADVERBS = {"finally", "still", "now", "again", "already", "mostly", "generally",
                 "actually", "honestly", "definitely", "just"}
_SKIPPABLE = (_INTENSIFIERS | _DIMINISHERS | _TIME_ADVERBS
              | {"a", "at", "all", "feeling", "feel", "been"})

# Hedges: the speaker commits less; the reading is less certain and nearer neutral.
_HEDGES = tuple(re.compile(p) for p in (
    r"\bi guess\b", r"\bi suppose\b", r"\bi think\b", r"\bmaybe\b", r"\bprobably\b",
    r"\bperhaps\b", r"\bkind of\b", r"\bkinda\b", r"\bsort of\b", r"\bsorta\b",
    r"\bmore or less\b", r"\bi don'?t know\b", r"\bi dunno\b", r"\bnot sure\b",
    r"\bor something\b", r"\bwhatever\b", r"\bish\b", r"\bi hope\b",
    r"\bi'?d say\b", r"\bsupposedly\b", r"\bin a way\b", r"\bpossibly\b", r"\bmeh\b",
))

# Fixed idioms: read as a whole, before (and instead of) word-by-word negation.
# (pattern, valence, category); a None valence means "neutral filler": remove the words
# so that, e.g., the "can't" of "I can't believe how happy I am" negates nothing.
_IDIOMS: tuple[tuple[re.Pattern[str], Optional[float], Optional[str]], ...] = tuple(
    (re.compile(p), v, c) for p, v, c in (
        (r"\bnever (?:been |felt |had it )?(?:any |so much )?(?:better|happier)\b", 0.8, "happy"),
        (r"\b(?:couldn't|could not|can't|cannot) (?:be|have been|feel|get) (?:any )?(?:better|happier)\b", 0.8, "happy"),
        (r"\b(?:couldn't|could not|can't|cannot) (?:be|have been|feel|get) (?:any )?worse\b", -0.8, "sad"),
        (r"\bnever (?:been |felt |had it )?(?:any )?worse\b", -0.8, "sad"),
        (r"(?<!nothing )(?<!nothing's )(?<!nothing has )\b(?:go|goes|going|gone|went|gets|getting)"
         r" (?:so |really |badly |horribly )?wrong\b", -0.5, "sad"),
        (r"\bcould(?:'ve| have)? (?:be|been|feel|felt) (?:a (?:bit|little|lot) |much |way )?better\b", -0.35, "sad"),
        (r"\b(?:i've|i have|i'd|ive|have|has|had) (?:definitely |certainly |honestly )?(?:been|felt|had|seen) better(?: days)?\b(?! (?:lately|recently|since|now|these|this|than|today|already))", -0.35, "sad"),
        (r"\bcould(?:'ve| have)? (?:be|been) (?:a (?:bit|little|lot) |much |way )?worse\b", 0.2, "calm"),
        (r"\b(?:can't|cannot|can not|mustn't|shouldn't) (?:really )?(?:complain|grumble)\b", 0.45, "calm"),
        (r"\bno complaints\b", 0.45, "calm"),
        (r"\bnot (?:doing |feeling |going |been |looking )?(?:too |so |that |half |all that |at all )?bad(?:ly)?\b", 0.35, "calm"),
        (r"\b(?:hasn't|has not|haven't|have not|wasn't|was not|isn't|is not|not|never) (?:been |always been |exactly |really )?(?:that |very |so |too )?easy\b", -0.4, "sad"),
        (r"\b(?:so|completely|totally|just|really) done\b|\bdone with (?:all (?:of )?(?:this|it)|everything|everyone)\b", -0.5, "angry"),
        (r"\bnot (?:the |that )?worst\b", 0.15, "calm"),
        (r"\bnot (?:really )?the best\b", -0.35, "sad"),
        (r"\b(?:nothing|nothing's|nothing is|there's nothing|there is nothing) wrong\b", 0.3, "calm"),
        (r"\b(?:no|not a|not any) (?:big )?(?:problems?|issues?|deal)\b", 0.2, "calm"),
        (r"\bcan't wait\b", 0.6, "happy"),
        (r"\b(?:breaks?|broke|breaking) (?:my|our) hearts?\b", -0.8, "sad"),
        (r"\b(?:nobody|no one|no-one|noone) (?:really )?"
         r"(?:cares|listens|understands|gets it|loves me)\b", -0.6, "sad"),
        (r"\b(?:can't|cannot|can not|couldn't) (?:take|handle|stand|bear) (?:it|this|any ?more)\b", -0.7, "sad"),
        (r"\b(?:can't|cannot|can not|couldn't) cope\b", -0.65, "sad"),
        (r"\b(?:can't|cannot|couldn't) (?:get to |fall )?sleep\b", -0.4, "fearful"),
        (r"\bhanging in there\b", -0.15, "sad"),
        (r"\b(?:not|n't|never) (?:feeling |feel |felt |been |really |quite |totally )*(?:like )?myself\b", -0.4, "sad"),
        (r"\bgetting by\b", -0.1, "neutral"),
        (r"\bgood (?:morning|afternoon|evening|night|job|point|question|idea)\b", None, None),
        (r"\bthank (?:god|goodness)\b", None, None),
        (r"\b(?:can't|cannot|couldn't|could not) believe\b", None, None),
        (r"\b(?:don't|do not|didn't) (?:know|mind|think|remember)\b", None, None),
        (r"\b(?:no|any) (?:idea|matter|longer|more)\b(?= )", None, None),
        (r"\bnot (?:only|just|sure)\b", None, None),
        (r"\bnever mind\b", None, None),
        (r"\bwhy not\b", None, None),
        (r"\bfeel like\b", None, None),
        (r"\bfor good\b", None, None),
    )
)
# "never felt so alone", "couldn't be more excited": intensifiers, not negations.
_INTENSIFYING_NEGATIONS = (
    (re.compile(r"\bnever (?:been|felt) (?:so|this|that|more)\b"), " so "),
    # "I haven't felt this good in years": "this" compares with the past, it does not deny
    (re.compile(r"\b(?:haven't|hasn't|have not|has not) (been|felt) this\b"), r" \1 so "),
    (re.compile(r"\b(?:couldn't|could not|can't|cannot) (?:be|feel) (?:more|any more)\b"), " so "),
    (re.compile(r"\b(?:can't|cannot|couldn't) stop\b"), " so "),
)
_CONTRAST = frozenset({"but", "though", "although", "however", "yet"})
_FILLERS = frozenset({
    "yes", "yeah", "yep", "no", "nope", "mm", "mhm", "mm-hmm", "uh", "um", "uh-huh", "hmm",
    "okay", "ok", "right", "sure", "oh", "ah", "well", "so", "i", "mean", "know", "you",
    "like", "hm", "huh", "er", "erm",
})


# --------------------------------------------------------------------------- reading
@dataclass
class _Hit:
    """One mood-bearing word or phrase found in an utterance."""

    pos: int  # token index, for "but" weighting
    valence: float
    category: Optional[str]
    weight: float  # our vocabulary 1.0, VADER fallback less
    negated: bool = False


def _normalise(text: str) -> str:
    t = text.lower()
    t = re.sub(r"[\u2018\u2019\u02bc`´]", "'", t)
    t = re.sub(r"[\u201c\u201d]", '"', t)
    t = re.sub(r"\[[^\]]*\]|\*[^*]*\*", " ", t)  # [laughs], *sighs*: not words said
    t = re.sub(r"\bcan not\b", "cannot", t)
    t = re.sub(r"\b(\w+) n't\b", r"\1n't", t)
    t = re.sub(r"\bso-so\b", "so so", t)
    t = re.sub(r"\bwits'? end\b", "wits end", t)
    # "not doing so well" -> "not so doing well": keep the phrase whole, keep the "so".
    t = re.sub(r"\b(doing|feeling|going|went|gone|been|sleeping) (so|too|very|really|that|pretty|quite) well\b",
               r"\2 \1 well", t)
    t = re.sub(r"\bhead ?space\b", "place", t)  # "in a good headspace"
    t = re.sub(r"\bin a (really|very|so|pretty|such a) (good|great|better|bad|dark|tough|difficult) place\b",
               r"\1 in a \2 place", t)
    t = re.sub(r"\b([a-z]+)-ish\b", r"\1 ish", t)  # "okay-ish": the word, hedged
    t = re.sub(r"\s+", " ", t)
    return t.strip()


_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[.,;:!?]|\x00\d+\x00")


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def _is_negator(tok: str) -> bool:
    return tok in _NEGATORS or tok.endswith("n't")


def _has_context(tokens: Sequence[str], i: int, n: int) -> bool:
    """Does an ambiguous mood word at tokens[i:i+n] follow "I'm", "feel", "been"...?"""
    j = i - 1
    while j >= 0 and tokens[j] in _SKIPPABLE - {"feeling", "feel", "been"}:
        j -= 1
    if j < 0 and tokens[i] in _DISCOURSE_MARKERS:
        # "Okay, so then I went home": a turn-opening "okay" is not a mood unless it is
        # (nearly) the whole answer ("Okay, thanks.").
        return sum(1 for t in tokens if t[0].isalnum()) <= _R.stated_mood.whole_answer_words
    if j < 0 or tokens[j] in ".,;:!?":
        return True  # "Fine." / "Pretty good, thanks." / "..., down, tired."
    if not (tokens[j] in _CONTEXT_WORDS or tokens[j].endswith("'m") or tokens[j].endswith("'re")):
        return False
    # ...and the clause is about the speaker or their life, not "the battery was low".
    # An elliptical answer ("Not great.", "Really quite low") has only modifiers before it.
    k = j
    elliptical = True
    while k >= 0 and tokens[k] not in ".,;:!?":
        if tokens[k] in _SELF_WORDS:
            return True
        if not (tokens[k] in _CONTEXT_WORDS or tokens[k] in _SKIPPABLE or _is_negator(tokens[k])):
            elliptical = False
        k -= 1
    return elliptical


_SUBCLAUSE_BREAKS = frozenset(".,;:!?") | _CONTRAST | {"and", "so", "because", "then", "when", "while"}


def _about_speaker(tokens: Sequence[str], i: int) -> bool:
    """Is the sub-clause around tokens[i] about the speaker ("my dog died"), not the
    weather ("the weather was nice")? Only then does a general VADER word count."""
    j = i
    while j > 0 and tokens[j - 1] not in _SUBCLAUSE_BREAKS:
        j -= 1
    k = i
    while k + 1 < len(tokens) and tokens[k + 1] not in _SUBCLAUSE_BREAKS:
        k += 1
    clause = tokens[j:k + 1]
    return (len([t for t in tokens if t[0].isalnum()]) <= _R.stated_mood.whole_answer_words
            or any(t in _SELF_WORDS for t in clause))


def _modifiers(tokens: Sequence[str], i: int) -> tuple[bool, float]:
    """(negated, strength factor) from the words just before position i, same clause."""
    factor = 1.0
    negated = False
    steps = 0
    j = i - 1
    while j >= 0 and steps < _NEGATION_WINDOW + 1:
        tok = tokens[j]
        if tok in ".,;:!?" or tok in _CONTRAST or tok.startswith("\x00"):
            break
        if steps <= _R.stated_mood.intensifier_reach and tok in _INTENSIFIERS:
            factor *= _R.stated_mood.intensifier_factor
        elif steps <= _R.stated_mood.diminisher_reach and tok in _DIMINISHERS:
            factor *= _R.stated_mood.diminisher_factor
        elif steps < _NEGATION_WINDOW and _is_negator(tok):
            negated = not negated
        j -= 1
        steps += 1
    return negated, factor


#: Calm words whose denial means tension ("not relaxed"), not sadness ("not okay").
_CALM_AROUSAL = frozenset({
    "calm", "calmer", "relaxed", "peaceful", "serene", "at peace", "at ease", "safe",
    "secure", "settled", "composed", "grounded", "chill", "comfortable",
})


def _negate(phrase: str, valence: float, category: Optional[str]) -> tuple[float, Optional[str]]:
    """'not happy' is sad-ish, 'not worried' mildly calm: negation weakens as it flips."""
    if valence > 0:
        if category == "neutral":
            return 0.0, category
        r = _R.stated_mood
        return (-(r.negated_positive_base + r.negated_positive_slope * valence),
                "fearful" if phrase in _CALM_AROUSAL else "sad")
    if valence < 0:
        return _R.stated_mood.negated_negative_factor * -valence, "calm"
    return 0.0, category


def _find_hits(tokens: list[str], idiom_hits: dict[str, _Hit]) -> list[_Hit]:
    hits: list[_Hit] = []
    lexicon = _vader_lexicon()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in idiom_hits:
            hit = idiom_hits[tok]
            hit.pos = i
            hits.append(hit)
            i += 1
            continue
        matched = False
        for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            key = tuple(tokens[i:i + n])
            entry = VOCABULARY.get(key)
            if entry is None:
                continue
            phrase = " ".join(key)
            if phrase in _NEEDS_CONTEXT and not (
                _has_context(tokens, i, n)
                or len([t for t in tokens if t.isalnum()]) <= _R.stated_mood.whole_answer_words
            ):
                continue
            valence, category_of = entry
            category: Optional[str] = category_of
            negated, factor = _modifiers(tokens, i)
            if negated:
                valence, category = _negate(phrase, valence, category)
            valence = max(-1.0, min(1.0, valence * factor))
            hits.append(_Hit(i, valence, category, _R.stated_mood.vocabulary_weight, negated))
            i += n
            matched = True
            break
        if matched:
            continue
        score = lexicon.get(tok)
        if (
            score is not None and abs(score) >= _R.stated_mood.vader_min_score
            and tok not in _VADER_STOPWORDS
            and not _is_negator(tok) and tok not in _INTENSIFIERS and _about_speaker(tokens, i)
        ):
            valence = _R.stated_mood.vader_scale * score / _R.stated_mood.vader_max_score
            negated, factor = _modifiers(tokens, i)
            if negated:
                valence, _ = _negate(tok, valence, None)
            hits.append(_Hit(i, max(-1.0, min(1.0, valence * factor)), None, _R.stated_mood.vader_weight,
                             negated))
        i += 1
    return hits


_VADER_LEX: Optional[dict[str, float]] = None


def _vader_lexicon() -> dict[str, float]:
    global _VADER_LEX
    if _VADER_LEX is None:
        _VADER_LEX = dict(_vader.SentimentIntensityAnalyzer().lexicon)
    return _VADER_LEX


def assess(text: str) -> tuple[Optional[float], Optional[str], float]:
    """(valence in [-1, 1], category, certainty 0..1) stated by one utterance.

    (None, None, 0.0) when the words state nothing (a question, "mm-hmm"); (0.0,
    "neutral", ...) for a plain account with no feeling in it, so it never counts as
    a positive or negative claim.
    """
    r = _R.stated_mood
    norm = _normalise(text)
    if not norm:
        return None, None, 0.0
    hedges = sum(len(p.findall(norm)) for p in _HEDGES)
    # Idioms first, replaced by placeholder tokens that carry their reading.
    idiom_hits: dict[str, _Hit] = {}
    for pattern, replacement in _INTENSIFYING_NEGATIONS:
        norm = pattern.sub(replacement, norm)
    for pattern, idiom_valence, idiom_category in _IDIOMS:
        def _sub(_m: re.Match[str], v: Optional[float] = idiom_valence,
                 c: Optional[str] = idiom_category) -> str:
            if v is None:
                return " "
            key = f"\x00{len(idiom_hits)}\x00"
            idiom_hits[key] = _Hit(0, v, c, _R.stated_mood.vocabulary_weight)
            return f" {key} "
        norm = pattern.sub(_sub, norm)
    for p in _HEDGES:  # hedge words are not mood words ("kind", "sort")
        norm = p.sub(" ", norm)
    tokens = _tokens(norm)
    hits = _find_hits(tokens, idiom_hits)

    if not hits:
        words = [t for t in tokens if t[0].isalnum()]
        content = [
            w for w in words
            if w not in _FILLERS and w not in _INTENSIFIERS and w not in _DIMINISHERS
            and not _is_negator(w)
        ]
        if len(content) < r.min_content_words or text.strip().endswith("?"):
            return None, None, 0.0
        return 0.0, "neutral", r.no_feeling_certainty if hedges == 0 else r.no_feeling_hedged_certainty

    # "I was happy, but now I'm anxious": what follows the contrast counts more (as VADER).
    contrast_at = max((i for i, t in enumerate(tokens) if t in _CONTRAST), default=-1)
    total = weight_sum = 0.0
    per_category: dict[str, float] = {}
    for h in hits:
        w = h.weight
        if contrast_at >= 0:
            w *= r.after_contrast_weight if h.pos > contrast_at else r.before_contrast_weight
        if h.category == "neutral":
            w *= r.neutral_word_weight  # "the usual" dilutes a feeling but does not cancel it
        total += w * h.valence
        weight_sum += w
        if h.category is not None:
            per_category[h.category] = per_category.get(h.category, 0.0) + w * max(abs(h.valence),
                                                                                   r.category_strength_floor)
    valence = total / weight_sum

    only_fallback = all(h.category is None for h in hits)
    certainty = r.fallback_certainty if only_fallback else r.vocabulary_certainty
    signs = {math.copysign(1, h.valence) for h in hits if abs(h.valence) >= NEUTRAL_BAND}
    if len(signs) > 1:
        certainty *= r.mixed_certainty_factor  # mixed feelings
    if any(h.negated for h in hits):
        certainty *= r.negated_certainty_factor
    if hedges:
        # A hedge softens the claim and makes us less sure of it, but "I'm okay, I guess"
        # still claims to be okay: that claim is what a face can contradict.
        valence *= r.one_hedge_valence_factor if hedges == 1 else r.hedges_valence_factor
        certainty *= r.hedge_certainty_factor ** min(hedges, r.max_hedges_counted)
    valence = max(-1.0, min(1.0, valence))

    category: Optional[str]
    side = polarity(valence)
    if side == "neu":
        top = max(per_category, key=per_category.__getitem__) if per_category else None
        category = top if top is not None and _category_sign(top) == 0 else "neutral"
    else:
        fitting = {
            c: s for c, s in per_category.items()
            if c != "neutral" and (_category_sign(c) in (0, 1 if side == "pos" else -1))
        }
        category = max(fitting, key=fitting.__getitem__) if fitting else None
    return round(valence, 3), category, round(max(r.min_certainty, min(1.0, certainty)), 3)


def _category_sign(category: str) -> int:
    return CATEGORY_POLARITY.get(category, -1)


# --------------------------------------------------------------------------- labels
_LABEL_ALIASES: dict[str, tuple[float, str]] = {
    "positive": (0.5, "happy"), "pos": (0.5, "happy"), "negative": (-0.5, "sad"),
    "neg": (-0.5, "sad"), "neu": (0.0, "neutral"), "none": (0.0, "neutral"),
    "fear": (-0.6, "fearful"), "anger": (-0.65, "angry"), "disgust": (-0.7, "disgusted"),
    "happiness": (0.7, "happy"), "calmness": (0.45, "calm"),
}


def mood_from_label(label: str | float | int) -> Optional[tuple[float, Optional[str], float]]:
    """Read a mood file's mood cell: a valence number in [-1, 1] or a mood word/phrase.

    Returns (valence, category, certainty), or None when the label is not a mood we
    know; a number outside [-1, 1] raises ValueError (a 1-5 scale is not ours to guess).
    """
    if isinstance(label, bool):
        return None
    if isinstance(label, (int, float)):
        number = float(label)
    else:
        cell = str(label).strip()
        try:
            number = float(cell)
        except ValueError:
            number = math.nan
            word = _normalise(cell)
            if not word:
                return None
            entry = _LABEL_ALIASES.get(word) or VOCABULARY.get(tuple(word.split()))
            if entry is not None:
                return entry[0], entry[1], 1.0
            valence, category, certainty = assess(cell)
            if valence is None or (category == "neutral" and word not in _NEUTRAL):
                return None
            return valence, category, certainty
    if math.isnan(number) or math.isinf(number):
        return None
    if not -1.0 <= number <= 1.0:
        raise ValueError(f"valence {number:g} is outside -1..1")
    side = polarity(number)
    return number, ("neutral" if side == "neu" else None), 1.0


def annotate(segments: Iterable[MoodSegment], *, overwrite: bool = False) -> list[MoodSegment]:
    """Fill valence, category and certainty from each segment's words.

    Segments that already carry a stated mood (mood-file rows, a reviewer's edit) are
    kept unless ``overwrite``; the inputs are not modified.
    """
    out: list[MoodSegment] = []
    for seg in segments:
        if not overwrite and (seg.valence is not None or seg.category is not None):
            out.append(dataclasses.replace(seg))
            continue
        valence, category, certainty = assess(seg.text)
        out.append(dataclasses.replace(seg, valence=valence, category=category, certainty=certainty))
    return out
