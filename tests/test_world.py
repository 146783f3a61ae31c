"""The synthetic world: splits, leakage, determinism, and the chat format the tokenizer renders."""

from __future__ import annotations

import json

import pytest

from conftest import world_config
from iftforget.tokenizer import chat_text, train_tokenizer
from iftforget.world import WORLD_FILES, build_world, check_world_config, world_files, write_world
from iftforget.world_text import ATTRIBUTES, chat_prompt

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
    ift_text = "\n".join(json.dumps(r["messages"]) for r in files["ift"])
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
    assert len(files["completion"]) == len(files["mc"]) == len(files["chat"]) == n_eval * len(ATTRIBUTES)


def test_biographies_are_augmented(files):
    bios: dict[str, list[str]] = {}
    for record in files["pretrain"]:
        bios.setdefault(record["person"], []).append(record["text"])
    assert all(len(texts) == CONFIG.bios_per_person for texts in bios.values())
    assert all(len(set(texts)) > 1 for texts in bios.values()), "biographies of a person differ"


def test_multiple_choice_items_hold_the_answer_once(files):
    for item in files["mc"]:
        assert len(item["choices"]) == CONFIG.mc_choices
        assert len(set(item["choices"])) == CONFIG.mc_choices
        answer = next(c for c in files["completion"] if c["id"] == item["id"])["answer"]
        assert item["choices"][item["label"]] == answer


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


def test_ift_mix_follows_generic_fraction(files):
    kinds = [r["kind"] for r in files["ift"]]
    fraction = CONFIG.generic_fraction
    assert kinds.count("generic") == pytest.approx(kinds.count("qa") * fraction / (1 - fraction), abs=1)


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
    texts = [r["text"] for r in files["pretrain"]] + [chat_text(r["messages"]) for r in files["ift"]]
    tokenizer = train_tokenizer(texts, vocab_size=800)
    example = next(r for r in files["ift"] if r["kind"] == "qa")
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
