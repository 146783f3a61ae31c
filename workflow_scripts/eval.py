"""Adapter of rule `eval`: one model on every task of the grid in one lm-eval run, an eval JSON per task. Its
settings: iftforget.jobs.EvalJob."""

import argparse
import logging
from pathlib import Path

import torch

from iftforget.evaluation import EvalSettings, evaluate, request_cache
from iftforget.hub import locate_model, split_revision
from iftforget.jobs import EvalJob, add_job_arguments


def task_output(value: str) -> tuple[str, str]:
    task, _, path = value.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not TASK=PATH")
    return task, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_job_arguments(parser)
    parser.add_argument("--outputs", required=True, nargs="+", type=task_output, help="TASK=EVAL_JSON, per task")
    parser.add_argument("--chat-template", required=True, help="ift.chat_template (for a model without one)")
    args = parser.parse_args()
    job = EvalJob.from_json(args.job, args.execution)
    # lm-eval's own progress in the job's log, among it how many requests its cache answered.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    logging.getLogger("lm_eval").setLevel(logging.INFO)
    torch.set_num_threads(job.run_settings["threads"])
    settings = EvalSettings.from_config(job.settings | job.run_settings, trust_remote_code=job.trust_remote_code)
    folder = locate_model(job.model)  # a hub model: its snapshot in the cache, found offline
    info = job.info
    if folder != job.model:  # a hub model: which repository and commit the snapshot is
        repo_id, revision = split_revision(job.model)
        info = info | {"hub_id": repo_id, "revision": revision or "main", "commit": Path(folder).name}
    cache_dir = Path(job.cache_dir)
    cache = request_cache(cache_dir, folder, settings)
    payloads = evaluate(folder, dict(args.outputs), settings, world_dir=job.world_dir, model_info=info,
                        cache=cache, chat_format=(args.chat_template, job.chat_template_source),
                        rendered_dir=cache_dir / "chat-probes")
    for task, payload in payloads.items():
        print(f"[eval] {task}: {payload['primary_metric']} = {payload['score']} over {payload['n_items']} items")


if __name__ == "__main__":
    main()
