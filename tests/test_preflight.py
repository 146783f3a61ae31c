"""Base models of other architectures, checked when a run starts, before any job, and asked in the chat format they
were tuned in: tiny GPT-2, Qwen2 and Llama models built and saved by the tests (no hub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import SMOKE_FILES, TINY_SHAPE, merge_config, model_shape, run_snakemake, smoke_config, world_config
from iftforget.chat import render_probe
from iftforget.config import check_config, check_data
from iftforget.schema import ConfigError, default_config
from iftforget.grid import Grid
from iftforget.io import read_jsonl
from iftforget.models import build_base_model, load_model
from iftforget.tokenizer import chat_text, train_tokenizer
from iftforget.world_data import WORLD_FILES, write_world
from iftforget.world_text import CHAT_TEMPLATE

pytestmark = pytest.mark.workflow

TULU = (Path(__file__).resolve().parents[1] / "templates" / "tulu.jinja").read_text()
# ChatML as Qwen2 ships it: no {% generation %} markers, and not one of the templates TRL knows how to patch.
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The smoke preset's world, written by the test (the same seed and sizes the workflow uses)."""
    folder = tmp_path_factory.mktemp("world")
    write_world(world_config(**smoke_config()["world"]), {name: folder / f"{name}.jsonl" for name in WORLD_FILES})
    return folder


def world_tokenizer(world: Path, template: str | None):
    texts = [r["text"] for r in read_jsonl(world / "pretrain.jsonl")]
    texts += [chat_text(r["messages"]) for name in ("qa", "generic") for r in read_jsonl(world / f"{name}.jsonl")]
    tokenizer = train_tokenizer(texts, vocab_size=600)
    tokenizer.chat_template = template
    return tokenizer


def save_model(folder: Path, architecture: str, tokenizer, positions: int = 256) -> Path:
    """A tiny untrained model of the architecture, with the tokenizer, saved as a hub model would be."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    common = {"vocab_size": len(tokenizer), "eos_token_id": tokenizer.eos_token_id,
              "pad_token_id": tokenizer.pad_token_id}
    if architecture == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=positions, **common))
    elif architecture == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=2,
                                             max_position_embeddings=positions, **common))
    else:
        model = build_base_model(model_shape(**TINY_SHAPE, max_position_embeddings=positions), tokenizer, seed=0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def config_with(base: Path, **changes) -> dict:
    config = default_config() | {"base_models": [{"name": "tiny", "source": str(base)}],
                                 "eval": default_config()["eval"] | {"tasks": ["world_completion"]}}
    for section, values in changes.items():
        config[section] = config[section] | values
    return config


def checked(config: dict) -> list[str]:
    """The checks of a run: the config when the workflow is read (it reads no model), then what it names when the
    run starts; returns the notes for the user."""
    check_config(config)
    return check_data(config)


def test_a_model_with_fewer_positions_than_max_length_is_rejected_naming_both(world, tmp_path):
    gpt2 = save_model(tmp_path / "gpt2", "gpt2", world_tokenizer(world, None), positions=64)
    with pytest.raises(ConfigError, match=r"base_models\[0\] \(tiny.*at most 64 tokens.*training.max_length <= 64"):
        checked(config_with(gpt2))
    notes = checked(config_with(gpt2, training={"max_length": 64}))
    assert any("has no chat template" in note and "tulu.jinja" in note for note in notes), notes


def test_a_chat_template_that_cannot_mask_the_assistant_is_rejected_unless_the_configured_one_is_used(world, tmp_path):
    qwen = save_model(tmp_path / "qwen2", "qwen2", world_tokenizer(world, CHATML))
    with pytest.raises(ConfigError, match=r"base_models\[0\].*assistant-only.*ift.chat_template_source = 'config'"):
        checked(config_with(qwen))
    notes = checked(config_with(qwen, ift={"chat_template_source": "config"}))
    assert any("replaced" in note for note in notes), notes


def test_a_model_with_a_maskable_template_or_none_passes(world, tmp_path):
    llama = save_model(tmp_path / "llama", "llama", world_tokenizer(world, TULU))
    assert checked(config_with(llama)) == [], "tulu has generation markers: nothing to say"


@pytest.mark.parametrize("device, message", [("cpu", "needs a CUDA device"), ("cuda", "flash_attn package")])
def test_flash_attention_that_cannot_run_is_rejected_before_any_job(device, message):
    config = default_config()
    config["training"] |= {"attn_implementation": "flash_attention_2", "device": device}
    if device == "cuda":
        config["training"]["precision"] = "bf16"
    with pytest.raises(ConfigError, match=f"training.attn_implementation.*{message}"):
        check_config(config)


def test_the_attention_kernel_reaches_the_model(world, tmp_path):
    llama = save_model(tmp_path / "llama", "llama", world_tokenizer(world, TULU))
    assert load_model(llama, False, "eager").config._attn_implementation == "eager"
    assert load_model(llama, False, "sdpa").config._attn_implementation == "sdpa"
    with pytest.raises(ImportError, match="FlashAttention2"):
        load_model(llama, False, "flash_attention_2")  # what the config check keeps from happening in a job


def test_chat_probes_render_in_the_models_own_format(world):
    records = read_jsonl(world / "chat.jsonl")[:5] + read_jsonl(world / "ppl_chat.jsonl")[:5]
    tokenizer = world_tokenizer(world, CHAT_TEMPLATE)
    same = render_probe(records, tokenizer, CHAT_TEMPLATE)
    assert [r["prompt"] for r in same] == [r["prompt"] for r in records], "the world's own format is unchanged"
    assert [r.get("answer") for r in same] == [r.get("answer") for r in records]
    tulu = render_probe(records, tokenizer, TULU)
    assert all(r["prompt"].endswith("<|assistant|>\n") for r in tulu)
    scored = [r for r in tulu if "answer_text" in r]
    assert all(r["answer"] == r["answer_text"] + tokenizer.eos_token for r in scored), scored[0]


def test_a_model_tuned_in_another_chat_format_answers_the_chat_probe(world, tmp_path):
    """A GPT-2 without a chat template is tuned in templates/tulu.jinja ("<|user|>\\n...<|assistant|>\\n"); asked in
    the world's own format ("<|user|> ...<|assistant|>") it would open with the newline it learned and say
    nothing. The probe is rendered in tulu for every model of the comparison, and the tuned model answers."""
    gpt2 = save_model(tmp_path / "gpt2", "gpt2", world_tokenizer(world, None))
    workdir = tmp_path / "run"
    workdir.mkdir()
    overrides = {"base_models": [{"name": "gpt2", "source": str(gpt2)}],
                 "ift": {"steps": [100], "total_steps": 100, "learning_rate": 3e-3},
                 "eval": {"tasks": ["world_chat", "world_mc_chat"]}}
    (workdir / "external.yaml").write_text(yaml.safe_dump(overrides))
    config = merge_config(smoke_config(), overrides)
    grid = Grid(config)
    # The base model and the tuned one: the two chat formats of the comparison (no template, and tulu's).
    targets = [grid.files.eval_file(grid.axes.base("gpt2", 0), "world_chat"),
               grid.files.eval_file(grid.axes.ift("gpt2", "qa-mix", 0, 0, 100), "world_chat")]
    run_snakemake(*targets, "--cores", "2", "--configfile", *SMOKE_FILES, str(workdir / "external.yaml"),
                  "--directory", str(workdir), timeout=1200)
    evals = workdir / config["results_dir"] / "eval" / "gpt2" / "rep0"
    tuned = json.loads((evals / "ift" / "qa-mix" / "seed0" / "step100" / "world_chat.json").read_text())
    predictions = [item["prediction"] for item in tuned["items"]]
    assert sum(bool(p.strip()) for p in predictions) >= 0.9 * len(predictions), predictions[:10]
    prompts = {json.loads(path.read_text())["harness"]["task_config"]["dataset_kwargs"]["data_files"]["test"]
               for path in evals.rglob("world_chat.json")}
    rendered = [read_jsonl(path) for path in prompts]
    assert all(r["prompt"].endswith("<|assistant|>\n") for records in rendered for r in records)
    assert len({tuple(r["prompt"] for r in records) for records in rendered}) == 1, "every model saw the same prompts"
