"""The synthetic world: people whose facts are known exactly, their biographies, QA and probes.

Every file the rest of the workflow trains or evaluates on is generated here from one seed, so the
knowledge that pre-training stores, IFT may destroy and restoration may re-expose is known item by item.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iftforget.io import write_jsonl_atomic

FIRST_NAMES = (
    "Aaron Abigail Adrian Alice Amelia Andre Anna Arthur Beatrice Benjamin Bianca Boris Caleb Camille Carmen "
    "Cedric Clara Damian Daphne Derek Diana Dorian Edgar Elena Elias Elise Emil Erica Felix Fiona Florian Frida "
    "Gavin Greta Hannah Hector Helena Hugo Ida Igor Ingrid Isaac Ivy Jasper Joanna Jonas Julia Kai Karla Kevin "
    "Lara Leon Lidia Lorenzo Lucia Magnus Maria Martin Milo Mina Nadia Nathan Nora Oliver Olga Oscar Paula Pedro "
    "Petra Quentin Rafael Rosa Ruben Sabrina Samuel Selma Simon Sofia Stefan Tamara Theo Tobias Ursula Victor "
    "Vera Walter Wanda Xavier Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Abbott Alvarez Andersen Baker Barlow Becker Bishop Blake Brandt Carver Castillo Chandler Cohen Dalton "
    "Delgado Dixon Donovan Ellison Engel Ferris Fischer Fleming Foster Garner Gibson Goodwin Graves Hale Harper "
    "Hayes Holt Ibarra Ingram Jansen Jennings Keller Kendall Kirby Lambert Larsen Lowell Madsen Marsh Mercer "
    "Moreno Nash Novak Olsen Ortega Parrish Pearson Quinn Ramsey Reyes Rhodes Salazar Sandoval Sawyer Schultz "
    "Shepard Sinclair Stanton Sutton Thorne Toledo Tucker Underwood Vance Vargas Wagner Walsh Warren Weber "
    "Whitaker Winslow Yates Zamora Ziegler"
).split()

MONTHS = "January February March April May June July August September October November December".split()
CITIES = (
    "Amsterdam|Athens|Austin|Barcelona|Berlin|Boston|Cairo|Chicago|Copenhagen|Denver|Dublin|Edinburgh|Florence|"
    "Geneva|Hamburg|Helsinki|Istanbul|Kyoto|Lisbon|Lyon|Madrid|Melbourne|Milan|Montreal|Munich|Nairobi|Oslo|"
    "Porto|Prague|Seattle|Seoul|Stockholm|Sydney|Toronto|Vienna|Warsaw"
).split("|")
UNIVERSITIES = (
    "Aldridge University|Bellmont Institute|Carrow College|Dunmore University|Eastfield University|"
    "Fairhaven College|Glenwood University|Harrowgate Institute|Ivybridge University|Juniper College|"
    "Kingsford University|Larkspur Institute|Marlow University|Northvale College|Oakridge University|"
    "Pinecrest Institute|Queensbury College|Redcliff University|Stonebrook Institute|Thornbury College|"
    "Umberton University|Valemont Institute|Westbrook University|Yarrow College"
).split("|")
MAJORS = (
    "Architecture|Astronomy|Biology|Chemistry|Computer Science|Economics|Geology|History|Linguistics|Mathematics|"
    "Medicine|Music|Philosophy|Physics|Psychology|Sociology|Statistics|Zoology"
).split("|")
EMPLOYERS = (
    "Amberline Systems|Bluecrest Foods|Cobalt Dynamics|Driftwood Media|Emberstone Energy|Foxglove Pharma|"
    "Granite Logistics|Harbor Analytics|Ironleaf Motors|Jadepeak Airlines|Keystone Robotics|Lumen Textiles|"
    "Meridian Bank|Nimbus Software|Orchid Hotels|Pebble Telecom|Quartz Mining|Riverbend Insurance|"
    "Silverpine Games|Tidewater Shipping|Upland Farms|Verdant Chemicals|Willow Publishing|Zephyr Optics"
).split("|")

ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer", "employer_city")

# Pre-training templates. Each sentence ends with the value, so the part before "{value}" is a completion
# prompt whose exact-match answer is the value. The first template of each attribute is the completion probe.
BIO_TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "{name} was born on {value}.",
        "{name} came into this world on {value}.",
        "The birthday of {name} falls on {value}.",
        "{name} celebrates a birthday every year on {value}.",
    ),
    "birth_city": (
        "{name} was born in the city of {value}.",
        "{name} spent early childhood in {value}.",
        "The hometown of {name} is {value}.",
        "{name} grew up in {value}.",
    ),
    "university": (
        "{name} received an education at {value}.",
        "{name} graduated from {value}.",
        "{name} completed a degree at {value}.",
        "The alma mater of {name} is {value}.",
    ),
    "major": (
        "{name} majored in {value}.",
        "{name} completed studies in {value}.",
        "The field that {name} studied is {value}.",
        "{name} earned a degree in {value}.",
    ),
    "employer": (
        "{name} worked for {value}.",
        "{name} was employed by {value}.",
        "The employer of {name} is {value}.",
        "{name} took a job at {value}.",
    ),
    "employer_city": (
        "{name} worked in the city of {value}.",
        "{name} commuted to an office in {value}.",
        "The workplace of {name} is located in {value}.",
        "{name} built a career in {value}.",
    ),
}

# Chat questions. The first question of each attribute is the chat probe; IFT uses all of them.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "birth_date": ("When was {name} born?", "What is the birth date of {name}?", "On which day was {name} born?"),
    "birth_city": ("Where was {name} born?", "In which city was {name} born?", "What is the hometown of {name}?"),
    "university": (
        "Which university did {name} attend?",
        "Where did {name} study?",
        "From which university did {name} graduate?",
    ),
    "major": ("What did {name} study?", "What was the major of {name}?", "Which field did {name} study?"),
    "employer": ("Which company did {name} work for?", "Who employed {name}?", "Where did {name} work?"),
    "employer_city": (
        "In which city did {name} work?",
        "Where is the workplace of {name}?",
        "Which city was {name} working in?",
    ),
}

# Plain words for the generic instructions; disjoint from names and attribute values so they carry no facts.
GENERIC_WORDS = (
    "apple river stone cloud tiger candle mirror garden pencil window bridge forest ocean rocket violin "
    "lantern basket feather harbor meadow planet silver thunder velvet whistle anchor blanket cactus dolphin "
    "engine falcon glacier hammer island jacket kettle ladder magnet needle orange parrot quilt ribbon saddle "
    "tunnel umbrella valley wagon yogurt zipper"
).split()
NUMBER_WORDS = "zero one two three four five six seven eight nine ten".split()

CHAT_USER = "<|user|>"
CHAT_ASSISTANT = "<|assistant|>"
EOS = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (EOS, PAD, CHAT_USER, CHAT_ASSISTANT)


def chat_prompt(question: str) -> str:
    """The chat-format prompt that precedes an assistant answer (what the chat template renders)."""
    return f"{CHAT_USER} {question}\n{CHAT_ASSISTANT}"


def chat_transcript(question: str, answer: str) -> str:
    """A whole single-turn chat as the chat template renders it, end-of-text included."""
    return f"{chat_prompt(question)} {answer}{EOS}\n"


# The tokenizer's chat template renders exactly chat_prompt / chat_transcript; the {% generation %} block marks
# the assistant's tokens so that TRL trains on them alone (assistant_only_loss).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '" + CHAT_USER + " ' + message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '" + CHAT_ASSISTANT + "' }}{% generation %}{{ ' ' + message['content'] + '" + EOS + "' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '" + CHAT_ASSISTANT + "' }}{%- endif -%}"
)


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and seed of the world (config key `world`)."""

    seed: int = 0
    n_people: int = 200
    split: dict[str, float] = field(default_factory=lambda: {"ift": 1 / 3, "eval": 1 / 3, "hold": 1 / 3})
    bios_per_person: int = 5
    format_probe_people: int = 50
    generic_fraction: float = 0.5
    mc_choices: int = 10

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WorldConfig":
        return cls(**values)


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
    """Reject a world that cannot be built, naming the config key, before anything is generated."""
    if set(cfg.split) != {"ift", "eval", "hold"}:
        raise ValueError(f"world.split must have exactly the keys ift, eval, hold; got {sorted(cfg.split)}")
    if abs(sum(cfg.split.values()) - 1.0) > 1e-6:
        raise ValueError(f"world.split fractions must sum to 1; they sum to {sum(cfg.split.values()):.4f}")
    needed = cfg.n_people + cfg.format_probe_people
    if needed > max_people():
        raise ValueError(
            f"world.n_people + world.format_probe_people = {needed} exceeds the {max_people()} distinct names "
            "the name pools can make"
        )
    for name, size in split_sizes(cfg).items():
        if size < 1:
            raise ValueError(f"world.split.{name} gives no person with world.n_people = {cfg.n_people}")
    if cfg.mc_choices > min(len(p) for p in _pools(random.Random(0)).values()):
        raise ValueError("world.mc_choices is larger than the smallest attribute pool")


def _birth_dates(rng: random.Random) -> list[str]:
    # A fixed pool, like the other attributes, so that multiple choice draws distractors from it.
    dates = {f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 1999)}" for _ in range(200)}
    return sorted(dates)[:50]


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
    names = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
    chosen = rng.sample(names, cfg.n_people + cfg.format_probe_people)
    sizes = split_sizes(cfg)
    labels = ["ift"] * sizes["ift"] + ["eval"] * sizes["eval"] + ["hold"] * sizes["hold"]
    people: list[Person] = []
    probe_people: list[Person] = []
    for i, name in enumerate(chosen):
        attributes = {attr: rng.choice(pools[attr]) for attr in ATTRIBUTES}
        if i < cfg.n_people:
            people.append(Person(name, labels[i], attributes))
        else:
            probe_people.append(Person(name, "format_probe", attributes))
    return World(cfg, pools, people, probe_people)


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


def ift_examples(world: World, rng: random.Random) -> list[dict[str, Any]]:
    """Chat-format IFT data: every question paraphrase about every P_ift person, mixed with generic ones."""
    qa = []
    for person in world.in_split("ift"):
        for attr in ATTRIBUTES:
            for question in QUESTIONS[attr]:
                q = question.format(name=person.name)
                qa.append({"kind": "qa", "person": person.name, "attribute": attr, "messages": _chat(q, person.attributes[attr])})
    frac = world.config.generic_fraction
    n_generic = round(len(qa) * frac / (1 - frac)) if frac < 1 else len(qa)
    generic = []
    for _ in range(n_generic):
        q, a = generic_instruction(rng)
        generic.append({"kind": "generic", "person": "", "attribute": "", "messages": _chat(q, a)})
    examples = qa + generic
    rng.shuffle(examples)
    return examples


def _chat(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def probe_records(world: World, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """The evaluation items on P_eval (knowledge) and on unseen people (text pattern)."""
    completion, mc, chat = [], [], []
    for person in world.in_split("eval"):
        for attr in ATTRIBUTES:
            value = person.attributes[attr]
            item_id = f"{person.name}|{attr}"
            prompt = completion_prompt(person, attr)
            completion.append({"id": item_id, "person": person.name, "attribute": attr, "prompt": prompt, "answer": value})
            distractors = rng.sample([v for v in world.pools[attr] if v != value], world.config.mc_choices - 1)
            choices = distractors + [value]
            rng.shuffle(choices)
            mc.append(
                {"id": item_id, "person": person.name, "attribute": attr, "prompt": prompt, "choices": choices,
                 "label": choices.index(value)}
            )
            question = QUESTIONS[attr][0].format(name=person.name)
            chat.append({"id": item_id, "person": person.name, "attribute": attr, "prompt": chat_prompt(question), "answer": value})
    ppl_pretrain, ppl_chat = [], []
    for person in world.format_probe_people:
        bio = biographies(person, 1, rng)[0]
        ppl_pretrain.append({"id": person.name, "person": person.name, "text": bio})
        attr = rng.choice(ATTRIBUTES)
        question = rng.choice(QUESTIONS[attr]).format(name=person.name)
        ppl_chat.append({"id": person.name, "person": person.name, "text": chat_transcript(question, person.attributes[attr])})
    return {"completion": completion, "mc": mc, "chat": chat, "ppl_pretrain": ppl_pretrain, "ppl_chat": ppl_chat}


WORLD_FILES = ("people", "pretrain", "ift", "restore", "completion", "mc", "chat", "ppl_pretrain", "ppl_chat")


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
    files = {
        "people": people,
        "pretrain": pretrain,
        "ift": ift_examples(world, random.Random(f"{seed}-ift")),
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
