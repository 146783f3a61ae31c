"""Adapter of rule `world_ift_data`: one IFT dataset of the world, its QA and generic instructions mixed."""

import argparse
from pathlib import Path

from iftforget.io import read_jsonl, write_jsonl_atomic
from iftforget.world_data import mix_ift_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa", required=True, help="the world's QA chats about P_ift")
    parser.add_argument("--generic", required=True, help="the world's pool of generic instructions")
    parser.add_argument("--generic-fraction", required=True, type=float)
    parser.add_argument("--seed", required=True, type=int, help="the world's seed (order of the mix)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    examples = mix_ift_data(read_jsonl(args.qa), read_jsonl(args.generic), args.generic_fraction, args.seed)
    write_jsonl_atomic(args.out, examples)
    kinds = {kind: sum(e["kind"] == kind for e in examples) for kind in ("qa", "generic")}
    print(f"{len(examples)} examples ({kinds}) -> {args.out}")


if __name__ == "__main__":
    main()
