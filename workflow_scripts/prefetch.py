"""Adapter of rules `prefetch_model` and `prefetch_task` (run on a host with internet): a hub model, or the datasets
of an lm-eval task, fetched into the caches inside the working directory; writes the JSON record of what was
fetched (the commit a revision resolved to, the files, the datasets and their cache folders)."""

import argparse
import json
from pathlib import Path

from iftforget.hub import prefetch_model, prefetch_task, use_only_the_named_token
from iftforget.io import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    kinds = parser.add_subparsers(dest="kind", required=True)
    model = kinds.add_parser("model", help="a hub model's snapshot (config, tokenizer, weights)")
    model.add_argument("--repo-id", required=True)
    model.add_argument("--revision", default="", help="branch, tag or commit; empty: the default branch")
    task = kinds.add_parser("task", help="the datasets of an lm-eval task or group, loaded through lm-eval")
    task.add_argument("--task", required=True)
    task.add_argument("--include-path", default="", help="a folder of extra task YAMLs (eval.include_path)")
    for sub in (model, task):
        sub.add_argument("--token-env", default="", help="the environment variable holding a hub token, if any")
        sub.add_argument("--out", required=True, type=Path, help="the JSON record of what was fetched")
    args = parser.parse_args()
    token = use_only_the_named_token(args.token_env)
    if args.kind == "model":
        record = prefetch_model(args.repo_id, args.revision, token)
        print(f"[prefetch] {args.repo_id} at {record['revision']} = commit {record['commit']}: "
              f"{len(record['files'])} files in {record['snapshot']}", flush=True)
    else:
        record = prefetch_task(args.task, args.include_path)
        for dataset in record["datasets"]:
            print(f"[prefetch] {args.task}: {json.dumps(dataset)}", flush=True)
    write_json_atomic(args.out, record)


if __name__ == "__main__":
    main()
