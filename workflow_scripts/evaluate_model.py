"""Adapter of rule `evaluate`: one model on one task through lm-eval, written as an eval JSON."""

import argparse
import json
from pathlib import Path

import torch

from iftforget.evaluation import EvalSettings, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="model directory or hub id")
    parser.add_argument("--task", required=True)
    parser.add_argument("--settings", required=True, help="the config's eval block, as JSON")
    parser.add_argument("--info", default="{}", help="what the model is in the grid, as JSON")
    parser.add_argument("--world-dir", default=None)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    raw = json.loads(args.settings)
    known = EvalSettings.__dataclass_fields__
    settings = EvalSettings(**{k: v for k, v in raw.items() if k in known})
    payload = evaluate(args.model, args.task, settings, args.out, world_dir=args.world_dir, model_info=json.loads(args.info))
    print(f"[eval] {args.task}: {payload['primary_metric']} = {payload['score']} over {payload['n_items']} items")


if __name__ == "__main__":
    main()
