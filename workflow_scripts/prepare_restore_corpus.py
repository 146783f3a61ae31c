"""Adapter of rule `prepare_restore_corpus`: a fixed sample of a pre-training-like corpus, as JSON lines."""

import argparse
import json
from pathlib import Path

from iftforget.data import prepare_text_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, type=json.loads, help="the restore_corpus block, as JSON")
    parser.add_argument("--tokenizer", required=True, help="tokenizer that counts the sample's tokens")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    spec = args.spec
    counts = prepare_text_corpus(spec["source"], spec["split"], spec["config_name"], spec["text_field"],
                                 spec["sample_tokens"], args.tokenizer, args.out)
    print(f"{counts} from {spec['source']} -> {args.out}")


if __name__ == "__main__":
    main()
