"""Adapter of rules `restore` and `restore_control`: train a model r steps on the restoration corpus."""

import argparse
import json
from pathlib import Path

from iftforget.evaluation import check_model_dir
from iftforget.training import StageArgs, load_model, load_text_dataset, load_tokenizer, log_environment, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="the model to restore (directory or hub id)")
    parser.add_argument("--corpus", required=True, help="JSON lines with a text field")
    parser.add_argument("--stage", required=True, help="the stage's settings, as JSON")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    stage = StageArgs.from_dict({**json.loads(args.stage), "threads": args.threads})
    log_environment()
    check_model_dir(args.model)  # a broken model folder is named with how to rebuild it, never half loaded
    print(f"[restore] {stage.steps} steps from {args.model}; settings {json.dumps(stage.__dict__)}", flush=True)
    tokenizer = load_tokenizer(args.model, args.trust_remote_code)
    model = load_model(args.model, args.trust_remote_code)
    dataset = load_text_dataset(args.corpus, ("text",))
    train(model, tokenizer, dataset, stage, args.out, total_steps=stage.steps, stop_step=stage.steps)


if __name__ == "__main__":
    main()
