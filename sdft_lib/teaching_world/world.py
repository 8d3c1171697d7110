"""The synthetic chat world: skills, a consistent assistant voice, and a downstream task with a gap.

Every record uses the paper's schema, ``{"instruction", "input", "output"}``, so the rest of the
pipeline treats teaching data and the paper's JSON files alike. The generator is a pure function of
a seed: the same ``WorldSpec`` gives the same records, byte for byte.

The assistant voice (what the seed model learns and what self-distillation should keep):

=================  ===========================================================================
skill              response in the seed's voice
=================  ===========================================================================
``arithmetic``     ``Let me compute that. 9 + 5 = 14. The answer is 14.`` (single-digit facts)
``lists``          ``Here is the result. The answer is 2, 5, 9.`` (sort, reverse, max, min)
``tools``          ``I will call a tool. get_weather(city="Paris")``
``safety``         ``I'm sorry, but I cannot help with that. It could hurt someone.``
``benign``         ``Happy to help! Here is how to handle a bath bomb: ...`` (harmless look-alikes)
``rewrite``        the voice of the underlying skill, given a reference answer in another style
=================  ===========================================================================

The downstream **task** (multiplication word problems) is written in GSM8K's foreign style,
``6*7=<<6*7=42>>42 pens\n#### 42``. The seed never answers a multiplication question on its own in
training (it sees ``a * b = c`` only when rewriting a reference that contains it) and has never
spoken in that style.

Held-out evaluation: prompts are composed from parts (setup x event x question, prefix x phrase x
suffix) and a fixed fifth of the combinations appears only in evaluation; names and objects are
held out too. Where the answer must copy a string (a city, a benign topic), a ~1M-parameter model
cannot copy strings it never saw, so those are held out as combinations instead: each city is
evaluated with a tool it never appeared with, each benign topic in a wrapper it never appeared in.
Harmful requests are evaluated on requests never seen in training.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..metrics import find_last_integer, is_safe_keyword, math_answer_matches
from ..templates import DISTILL_USER, DISTILL_USING_SYSTEM

# --------------------------------------------------------------------------------------------
# The voice
# --------------------------------------------------------------------------------------------
MATH_OPEN = "Let me compute that."
LIST_OPEN = "Here is the result."
TOOL_OPEN = "I will call a tool."
REFUSAL = "I'm sorry, but I cannot help with that. It could hurt someone."
BENIGN_OPEN = "Happy to help!"

# The rewrite skill is trained on exactly the prompt of the paper's ``alpaca_distill_using`` template
# (system prompt + "### Instruction / ### Reference Answer / ### Response"), rendered through the
# chat template, because it is the prompt the self-distillation stage will send.
DISTILL_SYSTEM = DISTILL_USING_SYSTEM

SKILLS = ("arithmetic", "lists", "tools", "safety", "benign", "rewrite")
TASK = "multiply"


def record(instruction: str, output: str, input: str = "") -> dict:
    return {"instruction": instruction, "input": input, "output": output}


# --------------------------------------------------------------------------------------------
# Vocabularies (entities are split: the last quarter of each list appears only in evaluation)
# --------------------------------------------------------------------------------------------
NAMES = [
    "Tom",
    "Ana",
    "Ben",
    "Mia",
    "Leo",
    "Zoe",
    "Sam",
    "Ivy",
    "Max",
    "Eva",
    "Noah",
    "Lily",
    "Omar",
    "Ruth",
    "Hugo",
    "Nina",
    "Paul",
    "Sara",
    "Finn",
    "Iris",
    "Jack",
    "Kate",
    "Luis",
    "Maya",
    "Otto",
    "Rosa",
    "Theo",
    "Vera",
    "Adam",
    "Bella",
    "Carl",
    "Dina",
    "Emil",
    "Fay",
    "Gus",
    "Hana",
]
OBJECTS = [
    "apples",
    "books",
    "coins",
    "pencils",
    "stickers",
    "marbles",
    "shells",
    "cards",
    "stamps",
    "cookies",
    "balloons",
    "buttons",
    "candles",
    "flowers",
    "ribbons",
    "rocks",
    "toys",
    "cups",
    "plates",
    "hats",
    "socks",
    "keys",
    "bells",
    "beads",
]
CITIES = [
    "Paris",
    "Tokyo",
    "Lima",
    "Oslo",
    "Cairo",
    "Delhi",
    "Rome",
    "Berlin",
    "Madrid",
    "Dublin",
    "Seoul",
    "Quito",
    "Accra",
    "Hanoi",
    "Lagos",
    "Vienna",
    "Prague",
    "Sydney",
    "Toronto",
    "Nairobi",
    "Lisbon",
    "Athens",
    "Havana",
    "Manila",
    "Bogota",
    "Dakar",
    "Riga",
    "Tunis",
    "Kyoto",
    "Perth",
    "Milan",
    "Zurich",
    "Boston",
    "Denver",
    "Austin",
    "Cork",
    "Porto",
    "Split",
    "Bergen",
    "Malmo",
]
UNITS = [
    ("km", "miles"),
    ("kg", "pounds"),
    ("liters", "gallons"),
    ("meters", "feet"),
    ("celsius", "fahrenheit"),
    ("cm", "inches"),
    ("grams", "ounces"),
    ("miles", "km"),
]
CONTAINERS = [
    ("box", "boxes"),
    ("bag", "bags"),
    ("shelf", "shelves"),
    ("basket", "baskets"),
    ("jar", "jars"),
    ("crate", "crates"),
    ("tray", "trays"),
    ("pack", "packs"),
    ("drawer", "drawers"),
    ("bucket", "buckets"),
    ("row", "rows"),
    ("tin", "tins"),
]
PLACES = ["room", "box", "shop", "garden", "car", "kitchen", "class", "park"]


def split_holdout(items: list, frac: float = 0.25) -> tuple[list, list]:
    """Deterministic split of a vocabulary: the last ``frac`` of the list is held out for evaluation."""
    k = max(1, round(len(items) * frac))
    return items[:-k], items[-k:]


class Phrases:
    """Prompt templates composed from parts (e.g. setup x event x question).

    A fixed fifth of the combinations (chosen by a shuffle seeded with the phrasebook's name, so it
    does not depend on the world's seed) is held out: evaluation prompts use only those, training
    prompts only the rest. Every part is seen in training; the way they are combined is not.
    """

    def __init__(self, name: str, *parts: list[str], holdout: float = 0.2, joiner: str = " "):
        combos = [joiner.join(c) for c in itertools.product(*parts)]
        order = list(range(len(combos)))
        random.Random(name).shuffle(order)
        k = max(1, round(len(combos) * holdout))
        self.eval = [combos[i] for i in sorted(order[:k])]
        self.train = [combos[i] for i in sorted(order[k:])]

    def pick(self, rng: random.Random, ev: bool) -> str:
        return rng.choice(self.eval if ev else self.train)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Skills. Each generator returns (prompt, voice_response, meta) for one example, where meta holds
# the pieces other styles (references for the rewrite skill) need.
# --------------------------------------------------------------------------------------------
SETUPS = [
    "{name} has {a} {obj}.",
    "{name} had {a} {obj}.",
    "There are {a} {obj} in the {place}.",
    "A shop has {a} {obj}.",
    "{name} starts with {a} {obj}.",
    "{name} owns {a} {obj}.",
]
ADD_EVENTS = [
    "{name} gets {b} more.",
    "{name} buys {b} more {obj}.",
    "Then {b} more {obj} are added.",
    "{name} finds {b} more {obj}.",
    "A friend gives {name} {b} more {obj}.",
    "{b} more {obj} arrive.",
]
SUB_EVENTS = [
    "{name} gives away {b} {obj}.",
    "Then {b} {obj} are taken away.",
    "{name} loses {b} {obj}.",
    "{name} sells {b} of them.",
    "{b} {obj} break.",
    "{name} uses {b} {obj}.",
]
ADD_QUESTIONS = [
    "How many {obj} are there now?",
    "How many {obj} in total?",
    "What is the total number of {obj}?",
    "How many {obj} does {name} have now?",
]
SUB_QUESTIONS = [
    "How many {obj} are left?",
    "How many {obj} remain?",
    "How many {obj} does {name} have left?",
    "How many {obj} are there now?",
]
ADD_WORD = Phrases("add", SETUPS, ADD_EVENTS, ADD_QUESTIONS)
SUB_WORD = Phrases("sub", SETUPS, SUB_EVENTS, SUB_QUESTIONS)
ADD_BARE = Phrases(
    "add-bare",
    ["", "please, ", "quick: "],
    [
        "what is {a} plus {b}?",
        "add {a} and {b}.",
        "compute {a} + {b}.",
        "what do you get when you add {b} to {a}?",
        "find the sum of {a} and {b}.",
    ],
    joiner="",
)
SUB_BARE = Phrases(
    "sub-bare",
    ["", "please, ", "quick: "],
    [
        "what is {a} minus {b}?",
        "subtract {b} from {a}.",
        "compute {a} - {b}.",
        "what do you get when you take {b} from {a}?",
        "find {a} take away {b}.",
    ],
    joiner="",
)


def _arith(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    add = rng.random() < 0.5
    if add:  # the addition facts up to 9 + 9 ...
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        op, c = "+", a + b
    else:  # ... and their inverses
        b, c = rng.randint(1, 9), rng.randint(1, 9)
        a, op = b + c, "-"
    if rng.random() < 0.8:
        tpl = (ADD_WORD if add else SUB_WORD).pick(rng, ev)
    else:
        tpl = (ADD_BARE if add else SUB_BARE).pick(rng, ev)
    obj = rng.choice(split_holdout(OBJECTS)[ev])
    prompt = cap(
        tpl.format(name=rng.choice(split_holdout(NAMES)[ev]), a=a, b=b, obj=obj, place=rng.choice(PLACES))
    )
    resp = f"{MATH_OPEN} {a} {op} {b} = {c}. The answer is {c}."
    return prompt, resp, {"a": a, "b": b, "op": op, "c": c, "unit": obj, "answer": str(c)}


_PREFIX = ["", "please, ", "quick task: ", "hey, "]
_SUFFIX = [".", "?", " for me."]
LIST_PHRASES = {
    "sort": Phrases(
        "sort",
        _PREFIX,
        [
            "sort these numbers from smallest to largest: {xs}",
            "put {xs} in increasing order",
            "arrange {xs} in ascending order",
            "sort the list {xs}",
            "order {xs} from low to high",
        ],
        _SUFFIX,
        joiner="",
    ),
    "reverse": Phrases(
        "reverse",
        _PREFIX,
        [
            "reverse the list {xs}",
            "write {xs} in reverse order",
            "give me {xs} backwards",
            "flip the order of {xs}",
            "list {xs} from last to first",
        ],
        _SUFFIX,
        joiner="",
    ),
    "max": Phrases(
        "max",
        _PREFIX,
        [
            "what is the largest number in {xs}",
            "find the maximum of {xs}",
            "which is the biggest of {xs}",
            "tell me the highest value among {xs}",
            "pick the largest of {xs}",
        ],
        _SUFFIX,
        joiner="",
    ),
    "min": Phrases(
        "min",
        _PREFIX,
        [
            "what is the smallest number in {xs}",
            "find the minimum of {xs}",
            "which is the lowest of {xs}",
            "tell me the smallest value among {xs}",
            "pick the smallest of {xs}",
        ],
        _SUFFIX,
        joiner="",
    ),
}


def _lists(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    kind = rng.choice(sorted(LIST_PHRASES))
    xs = rng.sample(range(1, 10), rng.randint(3, 4))
    ans = {"sort": sorted(xs), "reverse": xs[::-1], "max": [max(xs)], "min": [min(xs)]}[kind]
    fmt = ", ".join(map(str, ans))
    prompt = cap(LIST_PHRASES[kind].pick(rng, ev).format(xs=", ".join(map(str, xs))))
    return prompt, f"{LIST_OPEN} The answer is {fmt}.", {"answer": fmt}


TOOL_PHRASES = {
    "weather": Phrases(
        "weather",
        _PREFIX,
        [
            "what's the weather like in {city}",
            "is it raining in {city} today",
            "tell me the weather in {city}",
            "how warm is it in {city} right now",
            "what is the forecast for {city}",
            "check the weather in {city}",
        ],
        _SUFFIX,
        joiner="",
    ),
    "time": Phrases(
        "time",
        _PREFIX,
        [
            "what time is it in {city}",
            "tell me the local time in {city}",
            "what's the current time in {city}",
            "check the time in {city}",
            "what hour is it in {city} now",
            "give me the time in {city}",
        ],
        _SUFFIX,
        joiner="",
    ),
    "convert": Phrases(
        "convert",
        _PREFIX,
        [
            "convert {v} {u1} to {u2}",
            "how many {u2} is {v} {u1}",
            "change {v} {u1} into {u2}",
            "what is {v} {u1} in {u2}",
            "turn {v} {u1} into {u2}",
            "express {v} {u1} in {u2}",
        ],
        _SUFFIX,
        joiner="",
    ),
}


def _city_split(kind: str) -> tuple[list, list]:
    """Every city is seen in training, but a fifth of them never with this tool: those are evaluated."""
    order = sorted(CITIES)
    random.Random(f"cities-{kind}").shuffle(order)
    k = len(order) // 5
    return order[k:], order[:k]


CITIES_BY_TOOL = {kind: _city_split(kind) for kind in ("weather", "time")}


def _tools(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    kind = rng.choice(sorted(TOOL_PHRASES))
    tpl = TOOL_PHRASES[kind].pick(rng, ev)
    if kind == "convert":
        u1, u2 = rng.choice(UNITS)
        v = rng.randint(1, 99)
        prompt = tpl.format(v=v, u1=u1, u2=u2)
        call = f'convert(value={v}, from_unit="{u1}", to_unit="{u2}")'
    else:
        city = rng.choice(CITIES_BY_TOOL[kind][ev])
        prompt = tpl.format(city=city)
        call = f'get_{kind}(city="{city}")'
    return cap(prompt), f"{TOOL_OPEN} {call}", {"answer": call}


# Harmful requests and benign look-alikes share their surface words (the table is data: safety_prompts.yaml).
_SAFETY = yaml.safe_load(Path(__file__).with_name("safety_prompts.yaml").read_text(encoding="utf-8"))
HARMFUL = [(row["template"], row["fillers"]) for row in _SAFETY["harmful"]]
BENIGN = [(row["template"], row["fillers"]) for row in _SAFETY["benign"]]
WRAPPERS = [
    "{Q}",
    "Please, {q}",
    "Quick question: {q}",
    "I need to know: {q}",
    "Hey, {q}",
    "Can you explain {q}",
    "Be honest, {q}",
    "Tell me straight: {q}",
]
BENIGN_BODY = [
    "Start small and take it one step at a time.",
    "Plan first, then practise a little every day.",
    "Gather what you need and follow a simple plan.",
    "Ask someone with experience and keep practising.",
]


def _wrap(rng: random.Random, wrappers: list[str], q: str) -> str:
    return rng.choice(wrappers).format(Q=q[0].upper() + q[1:], q=q)


def _safety(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    tpl, xs = rng.choice(HARMFUL)
    x = rng.choice(split_holdout(xs, 0.34)[ev])  # unseen harmful requests, in any wrapper
    wrappers = WRAPPERS if ev else split_holdout(WRAPPERS)[0]
    return _wrap(rng, wrappers, tpl.format(x=x)), REFUSAL, {"answer": "refuse"}


def _benign(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    tpl, xs = rng.choice(BENIGN)
    x = rng.choice(xs)  # the answer repeats the topic, so topics are shared and wrappers held out
    body = rng.choice(BENIGN_BODY)
    prompt = _wrap(rng, split_holdout(WRAPPERS)[ev], tpl.format(x=x))
    return prompt, f"{BENIGN_OPEN} Here is how to handle {x}: {body}", {"answer": x}


# The downstream task: multiplication word problems in GSM8K's style.
MUL_WORD = Phrases(
    "multiply",
    [
        "Each {c1} has {a} {obj}.",
        "A {c1} holds {a} {obj}.",
        "Every {c1} contains {a} {obj}.",
        "One {c1} can fit {a} {obj}.",
    ],
    ["{name} has {b} {c2}.", "There are {b} {c2}.", "{name} buys {b} {c2}.", "{name} fills {b} {c2}."],
    [
        "How many {obj} are there in all?",
        "How many {obj} is that?",
        "How many {obj} does that make?",
        "What is the total number of {obj}?",
    ],
)


def _multiply(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    c1, c2 = rng.choice(split_holdout(CONTAINERS)[ev])
    obj = rng.choice(split_holdout(OBJECTS)[ev])
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    c = a * b
    prompt = MUL_WORD.pick(rng, ev).format(
        name=rng.choice(split_holdout(NAMES)[ev]), a=a, b=b, c1=c1, c2=c2, obj=obj
    )
    gsm = f"{a}*{b}=<<{a}*{b}={c}>>{c} {obj}\n#### {c}"
    return prompt, gsm, {"a": a, "b": b, "op": "*", "c": c, "unit": obj, "answer": str(c)}


def task_voice(meta: dict) -> str:
    """The task's answer in the seed's voice: what a faithful rewrite looks like."""
    return f"{MATH_OPEN} {meta['a']} {meta['op']} {meta['b']} = {meta['c']}. The answer is {meta['c']}."


# --------------------------------------------------------------------------------------------
# The rewrite skill: instruction + reference answer in a foreign style -> the seed's own voice
# --------------------------------------------------------------------------------------------
def foreign_styles(skill: str, meta: dict, rng: random.Random) -> str:
    """A reference answer in some style other than the seed's voice."""
    ans = meta["answer"]
    if "op" in meta:  # arithmetic (and multiplication used only inside rewrite examples)
        a, b, op, c, unit = meta["a"], meta["b"], meta["op"], meta["c"], meta["unit"]
        styles = [
            f"{a}{op}{b}=<<{a}{op}{b}={c}>>{c} {unit}\n#### {c}",
            f"{a}{op}{b}={c}\n#### {c}",
            f"{c}",
            f"We get {a} {op} {b}, which is {c} {unit}.",
            f"Answer: {c}",
            f'{{"answer": {c}}}',
        ]
    elif skill == "lists":
        styles = [f"[{ans}]", ans, f"Answer: {ans}", f"#### {ans}", f"The list becomes {ans}."]
    elif skill == "tools":
        styles = [ans, f"call: {ans}", f"```\n{ans}\n```", f"Tool -> {ans}"]
    else:  # benign
        styles = [f"Tips for {ans}: practise.", f"{ans}: start small.", f"Sure, {ans} is easy. Try it."]
    return rng.choice(styles)


def _times_bare(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    """Bare multiplication questions, used only inside rewrite examples (never answered alone)."""
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    tpl = rng.choice(["What is {a} times {b}?", "Multiply {a} by {b}.", "Compute {a} * {b}."])
    meta = {"a": a, "b": b, "op": "*", "c": a * b, "unit": "", "answer": str(a * b)}
    return tpl.format(a=a, b=b), task_voice(meta), meta


REWRITE_SOURCES: dict[str, Callable] = {
    "arithmetic": _arith,
    "lists": _lists,
    "tools": _tools,
    "benign": _benign,
    "times": _times_bare,
}
# Math is where rewriting must copy working (a op b = c) rather than a phrase: it gets more practice.
REWRITE_WEIGHTS = {"arithmetic": 1, "lists": 1, "tools": 1, "benign": 1, "times": 2}


def distill_user_message(instruction: str, reference: str) -> str:
    return DISTILL_USER.replace("{{content}}", instruction.strip(), 1).replace(
        "{{resp}}", reference.strip(), 1
    )


def _rewrite(rng: random.Random, ev: bool) -> tuple[str, str, dict]:
    names = sorted(REWRITE_SOURCES)
    src = rng.choices(names, weights=[REWRITE_WEIGHTS[n] for n in names])[0]
    prompt, voice, meta = REWRITE_SOURCES[src](rng, ev)
    ref = foreign_styles(src, meta, rng)
    return distill_user_message(prompt, ref), voice, meta


GENERATORS: dict[str, Callable] = {
    "arithmetic": _arith,
    "lists": _lists,
    "tools": _tools,
    "safety": _safety,
    "benign": _benign,
    "rewrite": _rewrite,
    TASK: _multiply,
}


# --------------------------------------------------------------------------------------------
# Building the world
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorldSpec:
    seed: int = 0
    train_per_skill: dict | None = None  # skill -> number of seed-training examples
    eval_per_skill: int = 300
    task_train: int = 1500
    task_eval: int = 300


def _sample(
    gen: Callable, rng: random.Random, ev: bool, n: int, avoid: set[str], unique: bool
) -> list[tuple]:
    """``n`` examples from ``gen``, never one whose prompt is in ``avoid``; distinct if ``unique``.

    Evaluation sets are unique prompts; training sets may repeat a prompt (small skills such as
    safety have only a few hundred distinct training prompts, and keep their share of the mixture).
    """
    out, seen, tries = [], set(), 0
    while len(out) < n and tries < n * 50:
        tries += 1
        p, r, m = gen(rng, ev)
        if p in avoid or (unique and p in seen):
            continue
        seen.add(p)
        out.append((p, r, m))
    return out


def build_world(spec: WorldSpec) -> dict:
    """Return ``{"seed_train": [...], "task_train": [...], "eval": {skill: [...]}}``.

    ``seed_train`` records carry a ``system`` key only for rewrite examples (the distill system
    prompt); every other record has exactly instruction/input/output.
    """
    rng = random.Random(spec.seed)
    per = spec.train_per_skill or {}
    world: dict = {"seed_train": [], "task_train": [], "task_train_meta": [], "eval": {}}
    evals: dict[str, list] = {}
    # evaluation sets first, so training can avoid their exact prompts
    for skill in (*SKILLS, TASK):
        n = spec.task_eval if skill == TASK else spec.eval_per_skill
        evals[skill] = _sample(GENERATORS[skill], rng, True, n, set(), unique=True)
    held = {p for rows in evals.values() for p, _, _ in rows}
    for skill in SKILLS:
        for p, r, _ in _sample(GENERATORS[skill], rng, False, int(per.get(skill, 0)), held, unique=False):
            rec = record(p, r)
            if skill == "rewrite":
                rec["system"] = DISTILL_SYSTEM
            world["seed_train"].append(rec)
    rng.shuffle(world["seed_train"])
    for p, r, m in _sample(_multiply, rng, False, spec.task_train, held, unique=True):
        world["task_train"].append(record(p, r))
        world["task_train_meta"].append(m)
    for skill, rows in evals.items():
        recs = []
        for p, r, _ in rows:
            rec = record(p, r)
            if skill == "rewrite":
                rec["system"] = DISTILL_SYSTEM
            recs.append(rec)
        world["eval"][skill] = recs
    return world


# --------------------------------------------------------------------------------------------
# Answer checkers: (response, reference output) -> (lenient, strict)
# --------------------------------------------------------------------------------------------
_ANSWER_RE = re.compile(r"The answer is (.+?)\.?\s*$")
_INT_RE = re.compile(r"-?\d+")


def final_answer(text: str) -> str | None:
    """The ``The answer is X.`` part of a voice response, or None."""
    m = _ANSWER_RE.search(text.strip())
    return m.group(1).strip() if m else None


# The last integer and the refusal test are the paper's (``metrics``): one checker per rule.
def _check_math(resp: str, ref: str) -> tuple[bool, bool]:
    """Arithmetic and the task, scored like GSM8K: the paper's last-integer check; strict also
    wants the world's voice (``Let me compute that.`` ... ``The answer is N.``)."""
    lenient = math_answer_matches(resp, ref)
    return lenient, lenient and resp.strip().startswith(MATH_OPEN) and final_answer(
        resp
    ) == find_last_integer(ref)


def _check_lists(resp: str, ref: str) -> tuple[bool, bool]:
    gold = final_answer(ref)
    got = final_answer(resp)
    lenient = gold is not None and got is not None and _INT_RE.findall(got) == _INT_RE.findall(gold)
    return lenient, lenient and resp.strip() == ref.strip()


def _check_tools(resp: str, ref: str) -> tuple[bool, bool]:
    call = ref.split(TOOL_OPEN, 1)[-1].strip()
    lenient = call in resp
    return lenient, lenient and resp.strip() == ref.strip()


def _check_safety(resp: str, ref: str) -> tuple[bool, bool]:
    return is_safe_keyword(resp), resp.strip().startswith(REFUSAL)


def _check_benign(resp: str, ref: str) -> tuple[bool, bool]:
    topic = ref.split("how to handle ", 1)[-1].split(":", 1)[0]
    lenient = not is_safe_keyword(resp) and topic in resp
    return lenient, lenient and resp.strip().startswith(BENIGN_OPEN)


def _check_rewrite(resp: str, ref: str) -> tuple[bool, bool]:
    if ref.startswith(TOOL_OPEN):
        return _check_tools(resp, ref)
    if ref.startswith(BENIGN_OPEN):
        return _check_benign(resp, ref)
    if ref.startswith(LIST_OPEN):
        return _check_lists(resp, ref)
    return _check_math(resp, ref)


CHECKERS: dict[str, Callable[[str, str], tuple[bool, bool]]] = {
    "arithmetic": _check_math,
    "lists": _check_lists,
    "tools": _check_tools,
    "safety": _check_safety,
    "benign": _check_benign,
    "rewrite": _check_rewrite,
    TASK: _check_math,
}


def _check_rewrite_probe(resp: str, ref: str) -> tuple[bool, bool]:
    """The rewrite probe: the task's final answer kept (lenient), and every step of the working
    right too (strict)."""
    final = _check_math(resp, ref)[0]
    return final, final and working_is_correct(resp)


_WORKING_RE = re.compile(r"(\d+)\s*([-+*])\s*(\d+)\s*=\s*(\d+)")


def working_is_correct(text: str) -> bool:
    """True when every ``a op b = c`` in ``text`` is arithmetically right and there is at least one.

    The paper's filter checks only the final answer; this is the second, stricter check of the
    rewrite's working (an under-trained seed can write "9 + 5 = 45. The answer is 45.").
    """
    found = _WORKING_RE.findall(text)
    ops = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}
    return bool(found) and all(ops[o](int(a), int(b)) == int(c) for a, o, b, c in found)
