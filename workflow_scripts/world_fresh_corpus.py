"""Adapter of rule `world_fresh_corpus`: the biographies of fresh people, a restoration corpus of restore.arms."""

import argparse
import json
from pathlib import Path

from iftforget.world import WorldConfig
from iftforget.world_fresh import write_fresh_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True, type=json.loads, help="the replicate's world block, as JSON")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    count = write_fresh_corpus(WorldConfig.from_config(args.world), args.out)
    print(json.dumps({"world": args.world, "biographies": count, "out": str(args.out)}, indent=1))


if __name__ == "__main__":
    main()
