"""Adapter of rules `restore` and `restore_control`: train a model r steps on the restoration corpus."""

import argparse
import json
from pathlib import Path

from iftforget.models import load_model, load_tokenizer, locate_model
from iftforget.training import StageArgs, load_text_dataset, log_environment, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="the model to restore: a directory, or a prefetched hub "
                        "model as org/name@revision")
    parser.add_argument("--corpus", required=True, help="JSON lines with a text field")
    parser.add_argument("--stage", required=True, type=json.loads, help="the stage's settings that change its result")
    parser.add_argument("--run", required=True, type=json.loads, help="the settings of how the job runs (threads...)")
    parser.add_argument("--steps", required=True, type=int, help="the restoration budget r")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    stage = StageArgs.from_config(args.stage | args.run, seed=args.seed)
    log_environment()
    print(f"[restore] {args.steps} steps from {args.model}; settings {json.dumps(stage.__dict__)}", flush=True)
    folder = locate_model(args.model)  # a hub model: its snapshot in the cache, found offline
    model = load_model(folder, args.trust_remote_code)  # checks the folder first: a broken one is named, not loaded
    tokenizer = load_tokenizer(folder, args.trust_remote_code)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=args.steps, stop_step=args.steps)


if __name__ == "__main__":
    main()
