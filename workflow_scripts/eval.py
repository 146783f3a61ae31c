"""Adapter of rule `eval`: one model on one task through lm-eval, written as an eval JSON."""

import argparse
import json
from pathlib import Path

import torch

from iftforget.evaluation import EvalSettings, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="model directory or hub id")
    parser.add_argument("--task", required=True)
    parser.add_argument("--settings", required=True, type=json.loads, help="the config block `eval`, as JSON")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--info", default="{}", type=json.loads, help="what the model is in the grid, as JSON")
    parser.add_argument("--world-dir", default=None)
    parser.add_argument("--threads", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = EvalSettings.from_config(args.settings, trust_remote_code=args.trust_remote_code)
    payload = evaluate(args.model, args.task, settings, args.out, world_dir=args.world_dir, model_info=args.info)
    print(f"[eval] {args.task}: {payload['primary_metric']} = {payload['score']} over {payload['n_items']} items")


if __name__ == "__main__":
    main()
