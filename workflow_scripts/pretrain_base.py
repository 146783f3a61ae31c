"""Adapter of rule `pretrain`: pre-train a Llama-style base model from scratch on the world's biographies."""

import argparse
import json
from pathlib import Path

from iftforget.training import (
    ModelShape,
    StageArgs,
    build_base_model,
    count_parameters,
    load_text_dataset,
    load_tokenizer,
    log_environment,
    train,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--stage", required=True, help="the stage's settings, as JSON")
    parser.add_argument("--shape", required=True, help="pretrain.model, as JSON")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    stage = StageArgs.from_dict({**json.loads(args.stage), "threads": args.threads})
    log_environment()
    tokenizer = load_tokenizer(args.tokenizer)
    model = build_base_model(ModelShape(**json.loads(args.shape)), tokenizer, seed=stage.seed)
    print(f"[pretrain] {count_parameters(model):,} parameters; settings {json.dumps(stage.__dict__)}", flush=True)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=stage.steps, stop_step=stage.steps)


if __name__ == "__main__":
    main()
