"""Adapter of rules `restore`, `restore_control` and `restore_variant`: train a model r steps on the restoration
corpus. Its settings: iftforget.jobs.RestoreJob."""

import argparse
import json
from pathlib import Path

from iftforget.hub import locate_model
from iftforget.jobs import RestoreJob, add_job_arguments
from iftforget.models import load_model, load_tokenizer, saved_dtype
from iftforget.training import StageArgs, load_text_dataset, train
from iftforget.training_log import log_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_job_arguments(parser)
    parser.add_argument("--corpus", required=True, help="JSON lines with a text field")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    job = RestoreJob.from_json(args.job, args.execution)
    settings = job.settings | job.run_settings
    folder = locate_model(job.start_model)  # a hub model: its snapshot in the cache, found offline
    # auto keeps the dtype of the model restored (IFT@k was saved in its base model's).
    dtype = saved_dtype(settings["save_dtype"], folder, job.trust_remote_code)
    stage = StageArgs.from_config(settings, seed=job.seed, save_dtype=dtype)
    log_environment()
    print(f"[restore] {job.steps} steps from {job.start_model}; settings {json.dumps(stage.__dict__)}", flush=True)
    # The folder is checked first: a broken one is named with how to rebuild it, never half loaded.
    model = load_model(folder, job.trust_remote_code, stage.attn_implementation)
    tokenizer = load_tokenizer(folder, job.trust_remote_code)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=job.steps, stop_step=job.steps,
          run_name=job.run_name, tracking_dir=job.tracking_dir, trust_remote_code=job.trust_remote_code)


if __name__ == "__main__":
    main()
