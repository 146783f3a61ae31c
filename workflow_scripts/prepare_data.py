"""Adapter of rules `prepare_ift_data` and `prepare_restore_corpus`: external data as local JSON lines."""

import argparse
import json
from pathlib import Path

from iftforget.data import IFTMapping, prepare_ift_dataset, prepare_text_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    ift = sub.add_parser("ift", help="an instruction dataset mapped to chat messages")
    ift.add_argument("--spec", required=True, help="the ift_datasets entry, as JSON")
    ift.add_argument("--out", required=True, type=Path)
    corpus = sub.add_parser("corpus", help="a fixed sample of a pre-training-like corpus")
    corpus.add_argument("--spec", required=True, help="the restore_corpus block, as JSON")
    corpus.add_argument("--tokenizer", required=True, help="tokenizer that counts the sample's tokens")
    corpus.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    if args.kind == "ift":
        mapping = IFTMapping(**{k: spec[k] for k in IFTMapping.__dataclass_fields__ if k in spec})
        count = prepare_ift_dataset(spec["source"], spec["split"], spec["config_name"], mapping, spec["max_examples"], args.out)
        print(f"{count} chat examples from {spec['source']} -> {args.out}")
    else:
        counts = prepare_text_corpus(
            spec["source"], spec["split"], spec["config_name"], spec["text_field"], spec["sample_tokens"], args.tokenizer, args.out
        )
        print(f"{counts} from {spec['source']} -> {args.out}")


if __name__ == "__main__":
    main()
