"""The rules that read a trainee's response to a flagged moment: data only, one place.

``cuewatch.words.response`` applies them; nothing else holds a phrase of its own. Every
pattern is a regular expression matched on one sentence of the therapist's words,
lower-cased, with curly quotes straightened (see ``response._straighten``). The feeling
vocabulary itself is stated mood's (``cuewatch.words.stated_mood.VOCABULARY``); this table
only adds the words a listener uses about someone else's feeling that a speaker rarely
says about their own ("painful", "upsetting"), and says which lexicon words are not
feelings in a therapist's mouth ("how's it going, good?").

How they combine (the order is the rule, see ``response.read_response``):

1. No words, or only backchannels ("mm-hmm", "right") -> **none**.
2. A dismissal anywhere ("don't worry", "cheer up", "you're not really sad") -> **moved on**:
   whatever else was said, the trainee turned away from the feeling.
3. Per sentence, first match wins: a validation phrase -> validated; a remark on the
   client's face, voice or body, or "you felt like..." -> named; a reflection stem followed
   by a feeling word -> named (a negated negative feeling, "you don't seem upset", is a
   dismissal); an invitation ("tell me more") or an open question about the client's
   experience (not a factual one: "how many", "what time") -> explored.
4. Over the sentences the strongest turn toward the moment wins: named, then explored, then
   validated ("That makes sense. Have you tried journaling?" is validated: advice after a
   validation does not undo it). No sentence of those -> **moved on** (content, advice, a
   new topic, a factual question).
"""

from __future__ import annotations

from typing import Final

from cuewatch.rule_numbers import RULES as _R

#: The five kinds, strongest turn toward the moment first (the order used to combine).
RESPONSE_KINDS: Final[tuple[str, ...]] = ("named", "explored", "validated", "moved_on", "none")

#: A response made only of these (and punctuation) is a backchannel: no response.
BACKCHANNELS: Final[frozenset[str]] = frozenset({
    "mm", "mmm", "mm-hmm", "mm-mm", "mhm", "hm", "hmm", "uh-huh", "uh", "um", "ah", "oh",
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright", "i", "see", "got",
    "it", "so", "and", "well",
})

#: Turning away from the feeling: reassurance, minimising, diverting, arguing it away
#: (Gordon's "roadblocks"). A negated validation ("it doesn't make sense to feel...") too.
DISMISSALS: Final[dict[str, str]] = {
    "dont_worry": r"\b(?:don'?t|do not|try not to) (?:worry|be (?:so )?(?:sad|upset|silly|hard on yourself))\b",
    "wouldnt_worry": r"\b(?:i )?wouldn'?t (?:worry|stress|get upset)\b",
    "cheer_up": r"\b(?:cheer up|chin up|look on the bright side|focus on the positives?|"
                r"think positive|not the end of the world|it could be worse|plenty more fish)\b",
    "at_least": r"^(?:well, )?at least\b|, at least\b",
    "reassure": r"\bi'?m sure (?:she|he|they|it|you|that)\b|\byou'?ll be (?:fine|okay|alright)\b|"
                r"\bit'?ll (?:all )?(?:work out|be fine|be okay)\b",
    "argue_away": r"\b(?:doesn'?t|does not|don'?t|do not) make (?:any )?sense\b|"
                  r"\bno (?:need|reason) to (?:feel|be)\b|\byou shouldn'?t (?:feel|be)\b",
    "move_along": r"\b(?:let'?s|we should|we need to) (?:move on|get back|leave that)\b",
}

#: Validation: the feeling is understandable, expected, allowed.
VALIDATIONS: Final[dict[str, str]] = {
    "makes_sense": r"\bmakes? (?:a lot of |so much |complete |total |perfect |real )?sense\b(?! of)",
    "of_course": r"\bof course (?:you|that|it)\b",
    "understandable": r"\bunderstandabl[ey]\b|\bi (?:can )?(?:understand|see|get) why\b",
    "no_wonder": r"\bno wonder\b",
    "allowed": r"\b(?:it'?s|it is|that'?s|that is) (?:okay|ok|alright|all right|fine|normal|natural|"
               r"valid) (?:not )?to\b|\bevery right\b|\bnothing wrong with\b|\bno shame in\b|"
               r"\b(?:totally |completely |perfectly |so )?valid\b",
    "anyone_would": r"\banyone (?:would|in your|could)\b|\bmost people would\b|"
                    r"\bi'?d (?:probably |also )?feel the same\b|\bin your shoes\b",
    "expected_reaction": r"\b(?:natural|normal|human|understandable|common) "
                         r"(?:reaction|response|thing to feel)\b",
    "permission": r"\byou (?:don'?t|do not) have to (?:be|feel|pretend|hold)\b",
    "sympathy": r"\bi'?m (?:so|really|very|truly) sorry\b|\bsorry to hear\b|"
                r"\bi hear you\b(?!'| say| said| saying| talk| mention)",
    "affirmation": r"\b(?:that was|that's|that is|that took|it took) (?:so |really |very |a lot of |real )?"
                   r"(?:brave|courageous|courage|strength)\b",
}

#: A reflection stem: the trainee says what the client feels. Named when a feeling word
#: follows in the same sentence.
REFLECTION_STEMS: Final[dict[str, str]] = {
    "sounds": r"\b(?:it |that |you )?sounds?\b",
    "seems": r"\b(?:you|it|that) (?:seem|seems|look|looks|looked|seemed)\b|\bseems like\b",
    "you_feel": r"\b(?:you'?re|you are|you were|are you|were you|you) (?:feeling|feel|felt|feels)\b|"
                r"\b(?:you'?re|you are|you were|you seem|are you)\b",
    "part_of_you": r"\bpart of you\b|\bthere'?s (?:some|a lot of|quite a lot of|a|real)\b|\bthere is\b",
    "hearing": r"\bi (?:hear|can hear|'?m hearing|am hearing|sense|can sense|get the sense)\b",
    "noticing": r"\bi (?:notice|noticed|'?m noticing|am noticing|can see|see|saw|can tell)\b",
    "must_have": r"\b(?:must|might|may) (?:have|be|feel)\b|\bthat (?:was|is|'s)\b|\bthat'?s\b|\bit was\b",
    "exclamation": r"^(?:(?:oh|wow|gosh|god|ah)(?: no)?,? )*(?:how|what an?)\b(?!.*\?)",
    "wondering": r"\bi(?:'?m| am)? wonder(?:ing)? if\b",
}

#: Named without a feeling word: a remark on what the client shows (face, voice, body), or
#: a reflection of a felt sense ("you felt like nobody cared").
CUE_REMARKS: Final[dict[str, str]] = {
    "you_showed": r"\byou(?:'re| are|'ve| have| were)? (?:smil\w*|laugh\w*|sigh\w*|frown\w*|winc\w*|paused|"
                  r"looked away|looking away|looked down|tear(?:ed|ing) up|flinch\w*|tensed|shrugged|"
                  r"clench\w*|fidget\w*|shaking|crying|"
                  r"(?:went|gone|go|going|got|getting) (?:very |really |a bit |quite |so )?(?:quiet|silent|pale|red|still))\b",
    "your_face": r"\byour (?:face|voice|eyes|hands|jaw|shoulders|expression|breathing)(?: \w+){0,2} "
                 r"(?:changed|changes|dropped|went|goes|got|gets|is|are|was|were|shaking|shook|tight\w*|"
                 r"soften\w*|lit|fell|sounds?|looks?|looked|seems?|welled|filled|clench\w*)\b",
    "seen_expression": r"\b(?:notice|noticed|noticing|see|saw|seeing)\b[^.?!]{0,25}\b(?:smile|smiling|grin|"
                       r"frown|sigh|tears|wince|laugh|laughing)\b|\b(?:smile|grin|frown|sigh|tears)\b"
                       r"[^.?!]{0,15}\bi (?:see|saw|notice|noticed)\b",
    "feel_like": r"^(?!(?:do|would|did|does|will|can|could) you\b)(?:.* )?(?:you|you're|you were|part of you) "
                 r"(?:felt|feel|feeling|feels) (?:like|as if|as though)\b",
}

#: An open question: a wh-word opening a sentence (after "so", "and", "okay"...).
OPEN_QUESTION: Final[str] = (
    r"(?:^|[,:] )(?:(?:so|and|okay|ok|right|well|now|but|mm|hmm|i wonder|i'?m wondering|i'?m curious),? )*"
    r"(?:what|how|where|when|who|why|which)\b"
)
#: Factual wh-questions ("how many hours...", "what time..."): not about experience.
CLOSED_QUESTION: Final[str] = (
    r"(?:^|[,:] )(?:(?:so|and|okay|ok|right|well|now|but),? )*"
    r"(?:how (?:many|much|long|often|old|far)|what (?:time|day|date|year|age))\b"
)
#: In an open question, words that make it about the client's experience.
EXPERIENCE_TERMS: Final[str] = (
    r"\b(?:feel|feels|feeling|feelings|felt|for you|inside|mean to you|means to you|"
    r"going on|happening|happens|your mind|your head|through your|your body|in your body|"
    r"notice|make of|make sense of|comes? up|came up|hardest|experience|you need|"
    r"how are you (?:doing|coping|holding up|finding)|that smile|(?:that|it|this)(?:'s| is| was| be| been)? like|"
    r"what'?s there|what was there|what is there)\b"
)
#: Explorations that are not questions: invitations to say more.
INVITATIONS: Final[dict[str, str]] = {
    "tell_me": r"\btell me (?:more|about|what|how)\b",
    "say_more": r"\bsay (?:a (?:bit|little) |some(?:thing)? |)more\b|\b(?:can|could|would) you "
                r"(?:describe|share|unpack|walk me through)\b|\bdescribe\b",
    "help_me": r"\bhelp me understand\b",
    "curious": r"\bi'?m curious (?:what|about|how)\b|\bi wonder (?:what|how)\b",
    "stay_with": r"\bstay with (?:that|this|it)\b",
}

#: Feeling words a listener uses about another's feeling, beyond stated mood's lexicon.
LISTENER_FEELINGS: Final[frozenset[str]] = frozenset({
    "painful", "upsetting", "hurtful", "devastating", "distressing", "disappointment",
    "frightening", "sadness", "anger", "fear", "shame", "grief", "loss", "tears", "tearful",
    "relief", "lonely", "isolating", "unbearable", "hard", "difficult", "tough", "heavy",
    "confusing", "confused", "torn", "vulnerable", "raw", "shocking", "humiliating",
    "embarrassed", "embarrassing", "rejected", "abandoned", "jealous", "resentment",
    "a lot to carry", "a lot to deal with", "so much to carry", "a lot to hold",
})
#: Lexicon words that are not feelings in a therapist's sentence ("the best way", "down
#: the road") unless negated ("you're not okay").
NOT_FEELINGS: Final[frozenset[str]] = frozenset({
    "better", "down", "low", "lost", "love", "loved", "loving", "fun", "the best", "usual",
    "normal", "routine", "average", "mixed", "enjoy", "look forward", "cross", "flat", "blue",
    "empty", "alone", "stuck", "managing", "coping", "settled", "safe", "secure", "lucky",
})
#: ...but after a feeling verb they are feelings ("you seem down", "you felt alone").
FEEL_VERBS: Final[frozenset[str]] = frozenset({
    "feel", "feels", "felt", "feeling", "seem", "seems", "seemed", "look", "looks", "looked",
    "sound", "sounds", "sounded",
})
#: How many words before a lexicon word a feeling verb reaches ("you felt so alone").
FEEL_VERB_REACH: Final[int] = _R.response.feel_verb_reach
#: ...and these count only when negated: "you're not okay" names distress, "you're okay"
#: is reassurance.
ONLY_NEGATED: Final[frozenset[str]] = frozenset({
    "okay", "ok", "fine", "alright", "all right", "good", "great", "well", "calm", "content",
})
#: How many words before a feeling word a negator reaches ("not really sad").
NEGATION_REACH: Final[int] = _R.response.negation_reach
#: Negators (a negated negative feeling is a dismissal: "you're not really sad"). Not "no":
#: "oh no, that's awful" names the feeling.
NEGATORS: Final[frozenset[str]] = frozenset({
    "not", "never", "don't", "dont", "doesn't", "didn't", "isn't", "aren't", "wasn't",
    "weren't", "nothing", "hardly", "n't",
})
