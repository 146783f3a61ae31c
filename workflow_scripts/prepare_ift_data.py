"""Adapter of rules `prepare_ift_data` (a local file) and `prefetch_ift_data` (a hub dataset, on a host with
internet): an external instruction dataset mapped to chat messages, as JSON lines."""

import argparse
import json
from pathlib import Path

from iftforget.data import IFTMapping, prepare_ift_dataset
from iftforget.hub import use_only_the_named_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, type=json.loads, help="the ift_datasets entry, as JSON")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--token-env", default="", help="the environment variable holding a hub token, if any")
    args = parser.parse_args()
    spec = args.spec
    count = prepare_ift_dataset(spec["source"], spec["split"], spec["config_name"], IFTMapping.from_config(spec),
                                spec["max_examples"], args.out, revision=spec["revision"],
                                token=use_only_the_named_token(args.token_env))
    print(f"{count} chat examples from {spec['source']} -> {args.out}")


if __name__ == "__main__":
    main()
