"""Adapter of rule `eval`: one model on every task of the grid in one lm-eval run, an eval JSON per task."""

import argparse
import json
import logging
from pathlib import Path

import torch

from iftforget.evaluation import EvalSettings, evaluate, request_cache
from iftforget.hub import locate_model, split_revision


def task_output(value: str) -> tuple[str, str]:
    task, _, path = value.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not TASK=PATH")
    return task, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="model directory, or a prefetched hub model as "
                        "org/name@revision")
    parser.add_argument("--outputs", required=True, nargs="+", type=task_output, help="TASK=EVAL_JSON, per task")
    parser.add_argument("--settings", required=True, type=json.loads, help="eval settings that change a result")
    parser.add_argument("--execution", required=True, type=json.loads, help="how it runs: batch size, device...")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--info", default="{}", type=json.loads, help="what the model is in the grid, as JSON")
    parser.add_argument("--world-dir", default=None)
    parser.add_argument("--cache-dir", type=Path, default=None, help="this model's lm-eval request cache")
    parser.add_argument("--chat-template", required=True, help="ift.chat_template (for a model without one)")
    parser.add_argument("--chat-template-source", required=True, choices=["model", "config"])
    args = parser.parse_args()
    # lm-eval's own progress in the job's log, among it how many requests its cache answered.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    logging.getLogger("lm_eval").setLevel(logging.INFO)
    torch.set_num_threads(args.execution["threads"])
    settings = EvalSettings.from_config(args.settings | args.execution, trust_remote_code=args.trust_remote_code)
    folder = locate_model(args.model)  # a hub model: its snapshot in the cache, found offline
    info = args.info
    if folder != args.model:  # a hub model: which repository and commit the snapshot is
        repo_id, revision = split_revision(args.model)
        info = info | {"hub_id": repo_id, "revision": revision or "main", "commit": Path(folder).name}
    cache = request_cache(args.cache_dir, folder, settings) if args.cache_dir else None
    rendered = args.cache_dir / "chat-probes" if args.cache_dir else Path(args.world_dir or ".") / ".chat-probes"
    payloads = evaluate(folder, dict(args.outputs), settings, world_dir=args.world_dir, model_info=info,
                        cache=cache, chat_format=(args.chat_template, args.chat_template_source),
                        rendered_dir=rendered)
    for task, payload in payloads.items():
        print(f"[eval] {task}: {payload['primary_metric']} = {payload['score']} over {payload['n_items']} items")


if __name__ == "__main__":
    main()
