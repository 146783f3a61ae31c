"""Adapter of rules `restore` and `restore_control`: train a model r steps on the restoration corpus."""

import argparse
import json
from pathlib import Path

from iftforget.hub import locate_model
from iftforget.models import load_model, load_tokenizer, saved_dtype
from iftforget.tracking import add_tracking_arguments
from iftforget.training import StageArgs, load_text_dataset, train
from iftforget.training_log import log_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="the model to restore: a directory, or a prefetched hub "
                        "model as org/name@revision")
    parser.add_argument("--corpus", required=True, help="JSON lines with a text field")
    parser.add_argument("--stage", required=True, type=json.loads, help="the stage's settings that change its result")
    parser.add_argument("--execution", required=True, type=json.loads, help="how the job runs (threads...)")
    parser.add_argument("--steps", required=True, type=int, help="the restoration budget r")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--out", required=True, type=Path)
    add_tracking_arguments(parser)
    args = parser.parse_args()
    settings = args.stage | args.execution
    folder = locate_model(args.model)  # a hub model: its snapshot in the cache, found offline
    # auto keeps the dtype of the model restored (IFT@k was saved in its base model's).
    dtype = saved_dtype(settings["save_dtype"], folder, args.trust_remote_code)
    stage = StageArgs.from_config(settings, seed=args.seed, save_dtype=dtype)
    log_environment()
    print(f"[restore] {args.steps} steps from {args.model}; settings {json.dumps(stage.__dict__)}", flush=True)
    # The folder is checked first: a broken one is named with how to rebuild it, never half loaded.
    model = load_model(folder, args.trust_remote_code, stage.attn_implementation)
    tokenizer = load_tokenizer(folder, args.trust_remote_code)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=args.steps, stop_step=args.steps,
          run_name=args.run_name, tracking_dir=args.tracking_dir, trust_remote_code=args.trust_remote_code)


if __name__ == "__main__":
    main()
