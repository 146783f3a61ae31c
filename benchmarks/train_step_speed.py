"""Training-step throughput of the default world model on this machine: TRL's fused LM head against the model's
own full-logits cross-entropy (config key `training.lm_head_loss`), with 1 and 2 CPU threads.

Usage: python benchmarks/train_step_speed.py [--steps 60] [--threads 1 2] [--task pretrain ift]
Builds the default world and tokenizer in a temporary folder, then for each (task, threads, loss) trains the
default model shape (pre-training on biographies, or IFT on chats with the assistant-only loss) through
`iftforget.training.train` and prints steps/s and tokens/s over the whole `trainer.train` call (the trainer's
start-up included, Python start-up and imports not). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from iftforget.grid import Grid
from iftforget.models import ModelShape, build_base_model
from iftforget.schema import default_config
from iftforget.tokenizer import chat_text, train_tokenizer
from iftforget.training import StageArgs, load_text_dataset, train
from iftforget.world import WorldConfig
from iftforget.world_data import WORLD_FILES, write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--task", nargs="+", default=["pretrain", "ift"], choices=["pretrain", "ift"])
    args = parser.parse_args()
    config = default_config()  # the schema's defaults: the default world and model
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_world(WorldConfig.from_config(config["world"]), {name: root / f"{name}.jsonl" for name in WORLD_FILES})
        texts = [json.loads(line)["text"] for line in (root / "pretrain.jsonl").read_text().splitlines()]
        chats = [chat_text(json.loads(line)["messages"]) for line in (root / "ift.jsonl").read_text().splitlines()]
        tokenizer = train_tokenizer(texts + chats, vocab_size=2048)
        rows = []
        for task in args.task:
            column, data = ("text", "pretrain.jsonl") if task == "pretrain" else ("messages", "ift.jsonl")
            dataset = load_text_dataset(root / data, (column,))
            for threads in args.threads:
                for loss in ("fused", "full_logits"):
                    stage = StageArgs.from_config(Grid(config).stages.stage_block(task), seed=0, threads=threads,
                                                  lm_head_loss=loss, logging_steps=args.steps, learning_rate=1e-3,
                                                  batch_size=32, save_every_steps=0)
                    model = build_base_model(ModelShape.from_config(config["pretrain"]["model"]), tokenizer, seed=0)
                    out = root / f"{task}-{threads}-{loss}"
                    summary = train(model, tokenizer, dataset, stage, out, total_steps=args.steps,
                                    stop_step=args.steps, assistant_only=task == "ift")
                    rows.append((task, threads, loss, args.steps / summary["seconds"],
                                 summary["tokens_seen"] / summary["seconds"]))
    print(f"\n{'task':<9} {'threads':>7} {'lm_head_loss':<12} {'steps/s':>8} {'tokens/s':>9}")
    for task, threads, loss, steps_per_s, tokens_per_s in rows:
        print(f"{task:<9} {threads:>7} {loss:<12} {steps_per_s:>8.2f} {tokens_per_s:>9.0f}")


if __name__ == "__main__":
    main()
