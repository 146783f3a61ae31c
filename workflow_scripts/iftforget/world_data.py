"""The world's data: what is written about its people, as the files rule `world` writes (biographies for
pre-training and the restoration corpus, chat QA, generic instructions, the probes) and the IFT datasets rule
`world_ift_data` mixes from them. One random stream per file, so that no file shifts another.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from iftforget.io import write_jsonl_atomic
from iftforget.world import Person, World, WorldConfig, build_world
from iftforget.world_text import (
    ATTRIBUTES,
    BIO_TEMPLATES,
    GENERIC_WORDS,
    NUMBER_WORDS,
    QUESTIONS,
    chat_answer,
    chat_prompt,
    chat_transcript,
)

# The files of the world, each written as JSON lines by rule `world`.
WORLD_FILES = (
    "people", "pretrain", "qa", "generic", "restore",
    "completion", "mc_completion", "mc_chat", "chat", "ppl_pretrain", "ppl_chat", "ppl_chat_transcript",
)
# Every world IFT dataset has the size of the even mix: each QA pair about P_ift once and as many generic
# instructions. `generic_fraction` of a dataset then says how many of these examples are generic.
IFT_SIZE_PER_QA = 2


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
