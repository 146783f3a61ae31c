"""Adapter of rule `prepare_ift_data`: an external instruction dataset mapped to chat messages, as JSON lines."""

import argparse
import json
from pathlib import Path

from iftforget.data import IFTMapping, prepare_ift_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, type=json.loads, help="the ift_datasets entry, as JSON")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    spec = args.spec
    count = prepare_ift_dataset(spec["source"], spec["split"], spec["config_name"], IFTMapping.from_config(spec),
                                spec["max_examples"], args.out)
    print(f"{count} chat examples from {spec['source']} -> {args.out}")


if __name__ == "__main__":
    main()
