"""Adapter of rule `world`: build the synthetic world and write its files."""

import argparse
import json
from pathlib import Path

from iftforget.world import WorldConfig
from iftforget.world_data import WORLD_FILES, write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True, type=json.loads, help="the config's world block, as JSON")
    parser.add_argument("--out-dir", required=True, type=Path)
    args = parser.parse_args()
    paths = {name: args.out_dir / f"{name}.jsonl" for name in WORLD_FILES}
    counts = write_world(WorldConfig.from_config(args.world), paths)
    print(json.dumps({"world": args.world, "records": counts}, indent=1))


if __name__ == "__main__":
    main()
