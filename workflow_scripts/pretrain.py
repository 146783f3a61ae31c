"""Adapter of rule `pretrain`: pre-train a Llama-style base model from scratch on the world's biographies."""

import argparse
import json
from pathlib import Path

from iftforget.models import ModelShape, build_base_model, load_tokenizer, saved_dtype
from iftforget.tracking import add_tracking_arguments
from iftforget.training import StageArgs, load_text_dataset, train
from iftforget.training_log import count_parameters, log_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--stage", required=True, type=json.loads, help="the stage's settings that change its result")
    parser.add_argument("--execution", required=True, type=json.loads, help="how the job runs (threads...)")
    parser.add_argument("--shape", required=True, type=json.loads,
                        help="the base model's architecture: pretrain.model with base_models[].model over it")
    parser.add_argument("--steps", required=True, type=int)
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path)
    add_tracking_arguments(parser)
    args = parser.parse_args()
    settings = args.stage | args.execution
    # A model built here trains in float32: auto saves it so.
    stage = StageArgs.from_config(settings, seed=args.seed, save_dtype=saved_dtype(settings["save_dtype"], None))
    log_environment()
    tokenizer = load_tokenizer(args.tokenizer)
    model = build_base_model(ModelShape.from_config(args.shape), tokenizer, seed=stage.seed,
                             attn_implementation=stage.attn_implementation)
    print(f"[pretrain] {count_parameters(model):,} parameters, {args.steps} steps; "
          f"settings {json.dumps(stage.__dict__)}", flush=True)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=args.steps, stop_step=args.steps,
          run_name=args.run_name, tracking_dir=args.tracking_dir)


if __name__ == "__main__":
    main()
