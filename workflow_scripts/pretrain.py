"""Adapter of rule `pretrain`: pre-train a Llama-style base model from scratch on the world's biographies. Its
settings: iftforget.jobs.PretrainJob."""

import argparse
import json
from pathlib import Path

from iftforget.jobs import PretrainJob, add_job_arguments
from iftforget.models import ModelShape, build_base_model, load_tokenizer, saved_dtype
from iftforget.training import StageArgs, load_text_dataset, train
from iftforget.training_log import count_parameters, log_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_job_arguments(parser)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    job = PretrainJob.from_json(args.job, args.execution)
    settings = job.settings | job.run_settings
    # A model built here trains in float32: auto saves it so.
    stage = StageArgs.from_config(settings, seed=job.seed, save_dtype=saved_dtype(settings["save_dtype"], None))
    log_environment()
    tokenizer = load_tokenizer(args.tokenizer)
    model = build_base_model(ModelShape.from_config(job.shape), tokenizer, seed=stage.seed,
                             attn_implementation=stage.attn_implementation)
    print(f"[pretrain] {count_parameters(model):,} parameters, {job.steps} steps; "
          f"settings {json.dumps(stage.__dict__)}", flush=True)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=job.steps, stop_step=job.steps,
          run_name=job.run_name, tracking_dir=job.tracking_dir)


if __name__ == "__main__":
    main()
