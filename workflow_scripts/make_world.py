"""Adapter of rule `world`: build the synthetic world and write its files."""

import argparse
import json
from pathlib import Path

from iftforget.grid import WORLD_FILES
from iftforget.world import WorldConfig, write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True, help="the config's world block, as JSON")
    parser.add_argument("--out-dir", required=True, type=Path)
    args = parser.parse_args()
    config = WorldConfig.from_dict(json.loads(args.world))
    counts = write_world(config, {name: args.out_dir / f"{name}.jsonl" for name in WORLD_FILES})
    print(json.dumps({"world": json.loads(args.world), "records": counts}, indent=1))


if __name__ == "__main__":
    main()
