"""The synthetic world: splits, leakage, determinism, and the chat format the tokenizer renders."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from conftest import world_config
from iftforget.tokenizer import chat_text, train_tokenizer
from iftforget.world import build_world, check_world_config
from iftforget.world_data import WORLD_FILES, mix_ift_data, world_files, write_world
from iftforget.world_fresh import fresh_corpus, fresh_people, write_fresh_corpus
from iftforget.world_text import ATTRIBUTES, BIO_TEMPLATES, EOS, MONTHS, chat_prompt

pytestmark = pytest.mark.unit

CONFIG = world_config(seed=3, n_people=60, format_probe_people=10)


@pytest.fixture(scope="module")
def files():
    return world_files(build_world(CONFIG))


def test_splits_are_disjoint_and_cover_everyone(files):
    people = files["people"]
    names = [p["name"] for p in people]
    assert len(names) == len(set(names)), "every person has a distinct name"
    by_split = {s: {p["name"] for p in people if p["split"] == s} for s in ("ift", "eval", "hold", "format_probe")}
    assert sum(len(v) for v in by_split.values()) == len(people)
    assert len(by_split["ift"]) + len(by_split["eval"]) + len(by_split["hold"]) == CONFIG.n_people
    assert all(by_split.values())


def test_no_eval_person_in_ift_data_or_restoration_corpus(files):
    eval_people = {p["name"] for p in files["people"] if p["split"] == "eval"}
    ift_text = "\n".join(json.dumps(r["messages"]) for r in files["qa"] + files["generic"])
    restore_text = "\n".join(r["text"] for r in files["restore"])
    leaked = [name for name in eval_people if name in ift_text or name in restore_text]
    assert leaked == []


def test_restoration_corpus_is_pretrained_hold_people_only(files):
    hold = {p["name"] for p in files["people"] if p["split"] == "hold"}
    pretrain_texts = {r["text"] for r in files["pretrain"]}
    assert {r["person"] for r in files["restore"]} == hold
    assert all(r["text"] in pretrain_texts for r in files["restore"])


def test_eval_facts_are_in_pretraining_and_probes_cover_every_attribute(files):
    people = {p["name"]: p for p in files["people"]}
    pretrain_by_person: dict[str, list[str]] = {}
    for record in files["pretrain"]:
        pretrain_by_person.setdefault(record["person"], []).append(record["text"])
    for item in files["completion"]:
        person = people[item["person"]]
        assert person["split"] == "eval"
        assert item["answer"] == person[item["attribute"]]
        assert any(item["answer"] in bio for bio in pretrain_by_person[item["person"]])
    n_eval = sum(p["split"] == "eval" for p in files["people"])
    probes = ("completion", "mc_completion", "mc_chat", "chat")
    assert all(len(files[name]) == n_eval * len(ATTRIBUTES) for name in probes)


def test_biographies_are_augmented(files):
    bios: dict[str, list[str]] = {}
    for record in files["pretrain"]:
        bios.setdefault(record["person"], []).append(record["text"])
    assert all(len(texts) == CONFIG.bios_per_person for texts in bios.values())
    assert all(len(set(texts)) > 1 for texts in bios.values()), "biographies of a person differ"


def test_multiple_choice_items_hold_the_answer_once_with_the_same_choices_in_both_formats(files):
    answers = {c["id"]: c["answer"] for c in files["completion"]}
    for item, chat_item in zip(files["mc_completion"], files["mc_chat"], strict=True):
        assert len(set(item["choices"])) == len(item["choices"]) == CONFIG.mc_choices
        assert item["choices"][item["label"]] == answers[item["id"]]
        same = ("id", "choices", "label")
        assert [chat_item[key] for key in same] == [item[key] for key in same]
        assert chat_item["prompt"].startswith("<|user|>") and not item["prompt"].startswith("<|user|>")


def test_same_seed_same_world_other_seed_other_world(tmp_path):
    first = world_files(build_world(CONFIG))
    again = world_files(build_world(CONFIG))
    other = world_files(build_world(world_config(seed=4, n_people=60, format_probe_people=10)))
    assert first == again
    assert first["people"] != other["people"]


def test_write_world_writes_every_file(tmp_path):
    counts = write_world(CONFIG, {name: tmp_path / f"{name}.jsonl" for name in WORLD_FILES})
    for name in WORLD_FILES:
        lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == counts[name] > 0
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_every_ift_mix_has_the_same_size_and_its_share_of_generic_instructions(files, fraction):
    mixed = mix_ift_data(files["qa"], files["generic"], fraction, seed=0)
    kinds = [r["kind"] for r in mixed]
    assert len(mixed) == 2 * len(files["qa"]), "every world dataset has twice as many examples as QA pairs"
    assert kinds.count("generic") == round(fraction * len(mixed))
    qa_people = {r["person"] for r in mixed if r["kind"] == "qa"}
    assert qa_people == (set() if fraction == 1 else {p["name"] for p in files["people"] if p["split"] == "ift"})
    if fraction == 0.5:
        assert sorted(map(json.dumps, (r for r in mixed if r["kind"] == "qa"))) == sorted(map(json.dumps, files["qa"]))


def test_a_format_only_dataset_holds_no_fact_about_anyone(files):
    mixed = mix_ift_data(files["qa"], files["generic"], 1.0, seed=0)
    text = json.dumps([r["messages"] for r in mixed])
    assert not [p["name"] for p in files["people"] if p["name"] in text]
    values = {p[attr] for p in files["people"] for attr in ATTRIBUTES}
    assert not [v for v in values if v in text]


def test_disjoint_name_pools_share_no_first_or_last_name_between_ift_and_probed_people():
    for pools, shared_allowed in (("disjoint", False), ("shared", True)):
        world = build_world(world_config(seed=5, n_people=300, name_pools=pools))
        names = {split: [p.name.split() for p in world.in_split(split)] for split in ("ift", "eval")}
        firsts = {split: {n[0] for n in names[split]} for split in names}
        lasts = {split: {n[1] for n in names[split]} for split in names}
        overlap = (firsts["ift"] & firsts["eval"]) | (lasts["ift"] & lasts["eval"])
        assert bool(overlap) == shared_allowed, pools


def test_birth_dates_come_from_every_month(files):
    world = build_world(CONFIG)
    months = {date.split()[0] for date in world.pools["birth_date"]}
    assert len(world.pools["birth_date"]) == 50
    assert months == set(MONTHS), "a fixed pool of 50 dates spread over the year, not a few months"


def test_the_chat_pattern_probe_scores_the_answer_after_the_question(files):
    for item, transcript in zip(files["ppl_chat"], files["ppl_chat_transcript"], strict=True):
        assert item["prompt"].startswith("<|user|>") and item["prompt"].endswith("<|assistant|>")
        assert item["answer"].startswith(" ") and item["answer"].endswith(EOS)
        assert transcript["text"] == item["prompt"] + item["answer"] + "\n"


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"n_people": 20_000}, "world.n_people"),
        ({"split": {"ift": 0.5, "eval": 0.5, "hold": 0.5}}, "world.split"),
        ({"n_people": 4, "split": {"ift": 0.9, "eval": 0.05, "hold": 0.05}}, "world.split.eval"),
        ({"mc_choices": 30}, "world.mc_choices"),
    ],
)
def test_impossible_worlds_are_rejected_naming_the_key(bad, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.") + ".*allowed"):
        check_world_config(world_config(**bad))


def test_tokenizer_chat_template_renders_the_probe_format(files):
    texts = [r["text"] for r in files["pretrain"]] + [chat_text(r["messages"]) for r in files["qa"] + files["generic"]]
    tokenizer = train_tokenizer(texts, vocab_size=800)
    example = files["qa"][0]
    question = example["messages"][0]["content"]
    prompt = tokenizer.apply_chat_template(example["messages"][:1], tokenize=False, add_generation_prompt=True)
    assert prompt == chat_prompt(question)
    full = tokenizer.apply_chat_template(example["messages"], tokenize=False)
    assert full == chat_text(example["messages"])
    encoded = tokenizer.apply_chat_template(
        example["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    answer_tokens = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(answer_tokens) == " " + example["messages"][1]["content"] + tokenizer.eos_token
    bio = files["pretrain"][0]["text"]
    assert tokenizer.decode(tokenizer(bio)["input_ids"]) == bio, "byte-level BPE decodes exactly"


def test_every_phrasing_of_every_fact_is_pretrained(files):
    from iftforget.world_text import BIO_TEMPLATES

    bios: dict[str, str] = {}
    for record in files["pretrain"]:
        bios[record["person"]] = bios.get(record["person"], "") + " " + record["text"]
    for person in (p for p in files["people"] if p["split"] != "format_probe"):
        for attr, templates in BIO_TEMPLATES.items():
            for template in templates:
                assert template.format(name=person["name"], value=person[attr]) in bios[person["name"]]


# Every file of rule world, hashed (name, then bytes, in WORLD_FILES order) as the code wrote them before the fresh
# people's corpus was added: the smoke world, a small world with shared name pools, the default world. Finished runs
# keep their worlds only while these stay (a changed file reruns every job after rule world).
WORLD_DIGESTS = [
    ({"n_people": 30, "format_probe_people": 6}, "0377f7fe152569d7a6ca755014bd97c9b29f586a524ed3a0a91c50efb6aa8e33"),
    ({"seed": 3, "name_pools": "shared", "n_people": 60, "format_probe_people": 10},
     "4f1800277142fca1168bc15853bf29a49663219465ca330d8f54b9900a334c88"),
    ({}, "00476a7d6347d5c62c667ecc66a115602aa7cbd8809e3de8fc25fee92654ad00"),
]


@pytest.mark.parametrize("changes, digest", WORLD_DIGESTS, ids=["smoke", "shared", "default"])
def test_the_world_files_are_byte_for_byte_those_of_finished_runs(tmp_path, changes, digest):
    paths = {name: tmp_path / f"{name}.jsonl" for name in WORLD_FILES}
    write_world(world_config(**changes), paths)
    hashed = hashlib.sha256()
    for name in WORLD_FILES:
        hashed.update(name.encode())
        hashed.update(paths[name].read_bytes())
    assert hashed.hexdigest() == digest


def biography_sentences(person) -> set[str]:
    """Every sentence the pre-training templates write about one person."""
    return {template.format(name=person.name, value=person.attributes[attr])
            for attr in ATTRIBUTES for template in BIO_TEMPLATES[attr]}


@pytest.mark.parametrize("pools", ["disjoint", "shared"])
def test_fresh_people_are_outside_the_world_and_their_corpus_is_p_holds_size_and_format(tmp_path, pools):
    config = world_config(seed=3, n_people=60, format_probe_people=10, name_pools=pools)
    world = build_world(config)
    fresh = fresh_people(world)
    corpus = fresh_corpus(world)
    hold = world.in_split("hold")
    everyone = world.people + world.format_probe_people
    names = [person.name for person in fresh]
    assert len(set(names)) == len(names) == len(hold), "as many distinct people as P_hold"
    assert not set(names) & {person.name for person in everyone}, "no fresh person is a person of the world"
    if pools == "disjoint":
        # No first or last name of a probed person (P_eval, format probes) or of P_hold: no fact of theirs is
        # rehearsed or contradicted through a name's tokens.
        kept_apart = world.in_split("eval") + world.format_probe_people + hold
        for index, part in ((0, "first"), (1, "last")):
            shared = {n.split()[index] for n in names} & {p.name.split()[index] for p in kept_apart}
            assert not shared, f"{part} names shared with probed or held-out people: {shared}"
    assert all(person.attributes[attr] in world.pools[attr] for person in fresh for attr in ATTRIBUTES)

    restore = world_files(world)["restore"]
    assert len(corpus) == len(restore) == len(hold) * config.bios_per_person
    assert [set(record) for record in corpus] == [set(record) for record in restore]
    assert Counter(record["person"] for record in corpus) == {name: config.bios_per_person for name in names}
    by_name = {person.name: person for person in fresh}
    for record in corpus:  # the pre-training format: every sentence one of the templates, about its own person
        sentences = record["text"].replace(". ", ".\n").split("\n")
        assert len(sentences) == len(ATTRIBUTES)
        assert set(sentences) <= biography_sentences(by_name[record["person"]]), record["text"]
    text = "\n".join(record["text"] for record in corpus)
    assert not [person.name for person in everyone if person.name in text]

    path = tmp_path / "restore-fresh.jsonl"
    assert write_fresh_corpus(config, path) == len(corpus)
    assert [json.loads(line) for line in path.read_text().splitlines()] == fresh_corpus(build_world(config))


def test_name_pools_too_small_for_the_fresh_people_are_rejected_naming_the_key():
    # 750 IFT people leave 56 of the 806 names of their part of the pools; the fresh people are as many as P_hold.
    crowded = world_config(n_people=1500, split={"ift": 0.5, "eval": 0.1, "hold": 0.4})
    check_world_config(crowded)  # the world itself fits its pools
    with pytest.raises(ValueError, match=r"restore\.arms.*needs 600 fresh people.*leaves 56 .*allowed"):
        fresh_people(build_world(crowded))
