"""The synthetic world: people whose facts are known exactly, their biographies, QA and probes.

Every file the rest of the workflow trains or evaluates on is generated here from one seed, so the
knowledge that pre-training stores, IFT may destroy and restoration may re-expose is known item by item.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iftforget.io import write_jsonl_atomic
from iftforget.settings import from_block
from iftforget.world_text import (
    ATTRIBUTES,
    BIO_TEMPLATES,
    CITIES,
    EMPLOYERS,
    FIRST_NAMES,
    GENERIC_WORDS,
    LAST_NAMES,
    MAJORS,
    MONTHS,
    NUMBER_WORDS,
    QUESTIONS,
    UNIVERSITIES,
    chat_answer,
    chat_prompt,
    chat_transcript,
)


# The files of the world, each written as JSON lines by rule `world`.
WORLD_FILES = (
    "people", "pretrain", "qa", "generic", "restore",
    "completion", "mc_completion", "mc_chat", "chat", "ppl_pretrain", "ppl_chat", "ppl_chat_transcript",
)
SPLITS = ("ift", "eval", "hold")
# With world.name_pools = disjoint, first and last names are dealt into three parts: P_ift's, P_eval's, and one for
# P_hold and the format-probe people, so that no probed person shares a first or last name with an IFT person.
NAME_PARTS = {"ift": 0, "eval": 1, "hold": 2, "format_probe": 2}
# Every world IFT dataset has the size of the even mix: each QA pair about P_ift once and as many generic
# instructions. `generic_fraction` of a dataset then says how many of these examples are generic.
IFT_SIZE_PER_QA = 2


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and seed of the world (config block `world`; the defaults are the schema's)."""

    seed: int
    n_people: int
    split: dict[str, float]
    bios_per_person: int
    format_probe_people: int
    mc_choices: int
    name_pools: str  # disjoint | shared

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> "WorldConfig":
        return from_block(cls, block)


@dataclass(frozen=True)
class Person:
    name: str
    split: str
    attributes: dict[str, str]


def max_people() -> int:
    return len(FIRST_NAMES) * len(LAST_NAMES)


def split_sizes(cfg: WorldConfig) -> dict[str, int]:
    """People per split; rounding leftovers go to the IFT split so that the sizes sum to n_people."""
    sizes = {name: int(cfg.n_people * cfg.split[name]) for name in ("eval", "hold")}
    sizes["ift"] = cfg.n_people - sizes["eval"] - sizes["hold"]
    return {"ift": sizes["ift"], "eval": sizes["eval"], "hold": sizes["hold"]}


def check_world_config(cfg: WorldConfig) -> None:
    """Reject a world that cannot be built before anything is generated; the message names the config key and
    what is allowed."""
    if set(cfg.split) != set(SPLITS):
        raise ValueError(f"world.split has the keys {sorted(cfg.split)}; allowed: exactly {list(SPLITS)}")
    if abs(sum(cfg.split.values()) - 1.0) > 1e-6:
        raise ValueError(f"world.split fractions sum to {sum(cfg.split.values()):.4f}; allowed: fractions summing to 1")
    if cfg.n_people + cfg.format_probe_people > max_people():
        raise ValueError(
            f"world.n_people + world.format_probe_people = {cfg.n_people} + {cfg.format_probe_people} is too large; "
            f"allowed: at most {max_people()} in total (the distinct names the name pools make)"
        )
    empty = [name for name, size in split_sizes(cfg).items() if size < 1]
    if empty:
        enough = next((n for n in range(cfg.n_people, max_people() + 1)
                       if min(split_sizes(dataclasses.replace(cfg, n_people=n)).values()) >= 1), None)
        raise ValueError(
            f"world.split.{empty[0]} = {cfg.split[empty[0]]} gives no person with world.n_people = {cfg.n_people}; "
            f"allowed: world.n_people >= {enough} with these fractions, or a larger world.split.{empty[0]}"
        )
    if cfg.name_pools == "disjoint":
        capacity = len(FIRST_NAMES) // len(SPLITS) * (len(LAST_NAMES) // len(SPLITS))
        needed = {"ift": split_sizes(cfg)["ift"], "eval": split_sizes(cfg)["eval"],
                  "hold and world.format_probe_people": split_sizes(cfg)["hold"] + cfg.format_probe_people}
        for part, count in needed.items():
            if count > capacity:
                raise ValueError(
                    f"world.name_pools = 'disjoint' leaves {capacity} names for {part}, but {count} people need them; "
                    "allowed: fewer people in that split, or world.name_pools = 'shared'"
                )
    smallest = min(len(pool) for pool in _pools(random.Random(0)).values())
    if cfg.mc_choices > smallest:
        raise ValueError(f"world.mc_choices = {cfg.mc_choices} is not allowed; allowed: at most {smallest} (the "
                         "smallest attribute pool)")


BIRTH_DATES = 50


def _birth_dates(rng: random.Random) -> list[str]:
    # A fixed pool, like the other attributes, so that multiple choice draws distractors from it; every month, day
    # and year equally likely (a pool taken from the front of a sorted list would hold a few months only).
    dates: list[str] = []
    while len(dates) < BIRTH_DATES:
        date = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 1999)}"
        if date not in dates:
            dates.append(date)
    return dates


def _pools(rng: random.Random) -> dict[str, list[str]]:
    return {
        "birth_date": _birth_dates(rng),
        "birth_city": list(CITIES),
        "university": list(UNIVERSITIES),
        "major": list(MAJORS),
        "employer": list(EMPLOYERS),
        "employer_city": list(CITIES),
    }


@dataclass
class World:
    config: WorldConfig
    pools: dict[str, list[str]]
    people: list[Person]
    format_probe_people: list[Person]

    def in_split(self, split: str) -> list[Person]:
        return [p for p in self.people if p.split == split]


def build_world(cfg: WorldConfig) -> World:
    """Draw the people of the world and their attributes; same seed, same world."""
    check_world_config(cfg)
    rng = random.Random(cfg.seed)
    pools = _pools(random.Random(cfg.seed + 1))
    sizes = split_sizes(cfg)
    labels = ["ift"] * sizes["ift"] + ["eval"] * sizes["eval"] + ["hold"] * sizes["hold"]
    labels += ["format_probe"] * cfg.format_probe_people
    chosen = _names(cfg, labels, random.Random(f"{cfg.seed}-names"))
    everyone = [Person(name, label, {attr: rng.choice(pools[attr]) for attr in ATTRIBUTES})
                for name, label in zip(chosen, labels, strict=True)]
    people = [person for person in everyone if person.split != "format_probe"]
    return World(cfg, pools, people, [person for person in everyone if person.split == "format_probe"])


def _names(cfg: WorldConfig, labels: list[str], rng: random.Random) -> list[str]:
    """A distinct name for each label (split); from the split's own part of the name pools if they are disjoint."""
    if cfg.name_pools == "shared":
        return rng.sample([f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES], len(labels))
    pools = _disjoint_name_pools(rng)
    drawn = {part: rng.sample(pool, sum(NAME_PARTS[label] == part for label in labels)) for part, pool in pools.items()}
    return [drawn[NAME_PARTS[label]].pop() for label in labels]


def _disjoint_name_pools(rng: random.Random) -> dict[int, list[str]]:
    """The full names of each part of the disjoint name pools (NAME_PARTS), the first and last names shuffled by
    `rng`; a fresh generator of the world's name seed gives the parts that `_names` drew from."""
    firsts, lasts = list(FIRST_NAMES), list(LAST_NAMES)
    rng.shuffle(firsts)
    rng.shuffle(lasts)
    parts = len(SPLITS)
    return {part: [f"{f} {l}" for f in firsts[part::parts] for l in lasts[part::parts]] for part in range(parts)}


def biographies(person: Person, count: int, rng: random.Random) -> list[str]:
    """`count` biographies of one person: sentence order permuted in each, and each attribute's templates taken in
    turn from a random start, so that with count >= the number of templates every phrasing of every fact is seen
    (the completion probe's phrasing included) while no two biographies read alike."""
    offsets = {attr: rng.randrange(len(BIO_TEMPLATES[attr])) for attr in ATTRIBUTES}
    bios = []
    for index in range(count):
        order = list(ATTRIBUTES)
        rng.shuffle(order)
        sentences = []
        for attr in order:
            templates = BIO_TEMPLATES[attr]
            template = templates[(offsets[attr] + index) % len(templates)]
            sentences.append(template.format(name=person.name, value=person.attributes[attr]))
        bios.append(" ".join(sentences))
    return bios


def completion_prompt(person: Person, attribute: str) -> str:
    template = BIO_TEMPLATES[attribute][0]
    return template.split("{value}")[0].format(name=person.name).rstrip()


def generic_instruction(rng: random.Random) -> tuple[str, str]:
    """One synthetic instruction without world facts: the format of IFT without its knowledge."""
    kind = rng.randrange(5)
    words = rng.sample(GENERIC_WORDS, rng.randint(3, 5))
    if kind == 0:
        return f"Reverse the order of these words: {' '.join(words)}", " ".join(reversed(words))
    if kind == 1:
        return f"Sort these words alphabetically: {' '.join(words)}", " ".join(sorted(words))
    if kind == 2:
        a, b = rng.randint(0, 5), rng.randint(0, 5)
        return f"What is {NUMBER_WORDS[a]} plus {NUMBER_WORDS[b]}?", NUMBER_WORDS[a + b]
    if kind == 3:
        return f"How many words are in this list: {' '.join(words)}", NUMBER_WORDS[len(words)]
    word = words[0]
    return f"Repeat the word {word} three times.", " ".join([word] * 3)


def qa_examples(world: World) -> list[dict[str, Any]]:
    """Chat-format QA: every question paraphrase about every P_ift person (the facts that IFT teaches)."""
    qa = []
    for person in world.in_split("ift"):
        for attr in ATTRIBUTES:
            for question in QUESTIONS[attr]:
                q = question.format(name=person.name)
                qa.append({"kind": "qa", "person": person.name, "attribute": attr,
                           "messages": _chat(q, person.attributes[attr])})
    return qa


def generic_examples(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` generic chat instructions: the format of IFT without any fact about anyone."""
    examples = []
    for _ in range(count):
        q, a = generic_instruction(rng)
        examples.append({"kind": "generic", "person": "", "attribute": "", "messages": _chat(q, a)})
    return examples


def mix_ift_data(qa: list[dict[str, Any]], generic: list[dict[str, Any]], generic_fraction: float,
                 seed: int) -> list[dict[str, Any]]:
    """A world IFT dataset: IFT_SIZE_PER_QA x len(qa) examples of which `generic_fraction` are generic
    instructions (taken from the front of the generic pool) and the rest QA pairs (each as often as the count
    allows, the remainder a seeded sample), shuffled. 0.5 is every QA pair once plus as many generic instructions;
    1.0 is a format-only dataset of the same size."""
    size = IFT_SIZE_PER_QA * len(qa)
    n_generic = round(generic_fraction * size)
    if n_generic > len(generic):
        raise ValueError(f"the generic pool has {len(generic)} instructions, {n_generic} are needed")
    rng = random.Random(f"{seed}-ift-mix")
    n_qa = size - n_generic
    repeats, remainder = divmod(n_qa, len(qa)) if qa else (0, 0)
    examples = qa * repeats + rng.sample(qa, remainder) + generic[:n_generic]
    rng.shuffle(examples)
    return examples


def _chat(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


PROBE_FILES = ("completion", "mc_completion", "mc_chat", "chat", "ppl_pretrain", "ppl_chat", "ppl_chat_transcript")


def probe_records(world: World, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """The evaluation items on P_eval (knowledge, in the pre-training and the chat format) and on unseen people
    (the text pattern). The multiple-choice items of the two formats share their choices."""
    files: dict[str, list[dict[str, Any]]] = {name: [] for name in PROBE_FILES}
    for person in world.in_split("eval"):
        for attr in ATTRIBUTES:
            value = person.attributes[attr]
            item = {"id": f"{person.name}|{attr}", "person": person.name, "attribute": attr}
            prompt = completion_prompt(person, attr)
            # The chat probes keep the question itself: an evaluation renders it with the chat template of the
            # model under test (iftforget.evaluation); the prompt stored here is the world's own chat format.
            question = QUESTIONS[attr][0].format(name=person.name)
            chat = {"question": question, "prompt": chat_prompt(question)}
            files["completion"].append(item | {"prompt": prompt, "answer": value})
            files["chat"].append(item | chat | {"answer": value})
            distractors = rng.sample([v for v in world.pools[attr] if v != value], world.config.mc_choices - 1)
            choices = distractors + [value]
            rng.shuffle(choices)
            mc = {"choices": choices, "label": choices.index(value)}
            files["mc_completion"].append(item | {"prompt": prompt} | mc)
            files["mc_chat"].append(item | chat | mc)
    for person in world.format_probe_people:
        bio = biographies(person, 1, rng)[0]
        files["ppl_pretrain"].append({"id": person.name, "person": person.name, "text": bio})
        attr = rng.choice(ATTRIBUTES)
        question = rng.choice(QUESTIONS[attr]).format(name=person.name)
        value = person.attributes[attr]
        # The assistant's turn alone (what assistant-only IFT trains on), and the whole transcript.
        files["ppl_chat"].append({"id": person.name, "person": person.name, "question": question,
                                  "answer_text": value, "prompt": chat_prompt(question),
                                  "answer": chat_answer(value)})
        files["ppl_chat_transcript"].append({"id": person.name, "person": person.name,
                                             "text": chat_transcript(question, value)})
    return files


def world_files(world: World) -> dict[str, list[dict[str, Any]]]:
    """Every file of the world as records; one random stream per file so that files do not shift each other."""
    seed = world.config.seed
    pretrain = []
    restore = []
    bio_rng = random.Random(f"{seed}-bios")
    for person in world.people:
        for bio in biographies(person, world.config.bios_per_person, bio_rng):
            pretrain.append({"text": bio, "person": person.name, "split": person.split})
            if person.split == "hold":
                restore.append({"text": bio, "person": person.name})
    random.Random(f"{seed}-order").shuffle(pretrain)
    random.Random(f"{seed}-restore-order").shuffle(restore)
    people = [{"name": p.name, "split": p.split, **p.attributes} for p in world.people + world.format_probe_people]
    qa = qa_examples(world)
    files = {
        "people": people,
        "pretrain": pretrain,
        "qa": qa,
        "generic": generic_examples(IFT_SIZE_PER_QA * len(qa), random.Random(f"{seed}-generic")),
        "restore": restore,
    }
    files.update(probe_records(world, random.Random(f"{seed}-probes")))
    return files


def write_world(cfg: WorldConfig, paths: dict[str, Path]) -> dict[str, int]:
    """Build the world and write each of its files (JSON lines) to the path given for it; returns the counts."""
    missing = set(WORLD_FILES) - set(paths)
    if missing:
        raise ValueError(f"no output path for world files {sorted(missing)}")
    files = world_files(build_world(cfg))
    for name in WORLD_FILES:
        write_jsonl_atomic(paths[name], files[name])
    return {name: len(records) for name, records in files.items()}


# --- a restoration corpus of fresh people (restore.arms with source world-fresh) ----------------------------------

FRESH_SOURCE = "world-fresh"
FRESH_SPLIT = "fresh"


def fresh_capacity(cfg: WorldConfig) -> int:
    """How many fresh people the name pools leave: with disjoint pools, the names of P_ift's part that no IFT person
    holds (so that no fresh person shares a first or last name with a probed person or P_hold); with shared pools,
    every name that no person of the world holds."""
    if cfg.name_pools == "shared":
        return max_people() - cfg.n_people - cfg.format_probe_people
    part, parts = NAME_PARTS["ift"], len(SPLITS)
    return len(FIRST_NAMES[part::parts]) * len(LAST_NAMES[part::parts]) - split_sizes(cfg)["ift"]


def check_fresh_capacity(cfg: WorldConfig, key: str) -> None:
    """Reject a world whose name pools cannot name the fresh people (as many as P_hold); the message names `key`
    (the arm's source) and what is allowed."""
    needed, capacity = split_sizes(cfg)["hold"], fresh_capacity(cfg)
    if needed > capacity:
        where = ("names of P_ift's part of the name pools that no IFT person holds" if cfg.name_pools == "disjoint"
                 else "names that no person of the world holds")
        raise ValueError(
            f"{key} = {FRESH_SOURCE!r} needs {needed} fresh people (as many as P_hold), but world.name_pools = "
            f"{cfg.name_pools!r} leaves {capacity} {where}; allowed: fewer people in P_ift or P_hold (world.n_people, "
            f"world.split), or no {FRESH_SOURCE} arm"
        )


def fresh_people(world: World) -> list[Person]:
    """As many new people as P_hold, outside every split of the world: each with a name that no person of the world
    holds (with disjoint pools from P_ift's part, so that none shares a first or last name with P_eval, the
    format-probe people or P_hold) and attribute values from the world's pools. Their own random streams leave the
    world's files as they were."""
    cfg = world.config
    check_fresh_capacity(cfg, "restore.arms.source")
    if cfg.name_pools == "shared":
        candidates = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
    else:
        candidates = _disjoint_name_pools(random.Random(f"{cfg.seed}-names"))[NAME_PARTS["ift"]]
    taken = {person.name for person in world.people + world.format_probe_people}
    names = random.Random(f"{cfg.seed}-fresh-names").sample([n for n in candidates if n not in taken],
                                                             len(world.in_split("hold")))
    rng = random.Random(f"{cfg.seed}-fresh-people")
    return [Person(name, FRESH_SPLIT, {attr: rng.choice(world.pools[attr]) for attr in ATTRIBUTES}) for name in names]


def fresh_corpus(world: World) -> list[dict[str, Any]]:
    """The restoration corpus of the world-fresh source: world.bios_per_person biographies of each fresh person in
    the pre-training format, shuffled; the size and format of P_hold's corpus, about people no model has seen."""
    seed = world.config.seed
    bio_rng = random.Random(f"{seed}-fresh-bios")
    records = [{"text": bio, "person": person.name} for person in fresh_people(world)
               for bio in biographies(person, world.config.bios_per_person, bio_rng)]
    random.Random(f"{seed}-fresh-order").shuffle(records)
    return records


def write_fresh_corpus(cfg: WorldConfig, path: Path) -> int:
    """Build the world and write the fresh people's corpus (JSON lines) to `path`; returns its biographies."""
    records = fresh_corpus(build_world(cfg))
    write_jsonl_atomic(path, records)
    return len(records)
