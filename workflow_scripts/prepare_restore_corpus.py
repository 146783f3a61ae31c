"""Adapter of rules `prepare_restore_corpus` (a local corpus) and `prefetch_restore_corpus` (a hub corpus, on a host
with internet): a fixed sample of a pre-training-like corpus, as JSON lines."""

import argparse
import json
from pathlib import Path

from iftforget.data import prepare_text_corpus
from iftforget.hub import locate_model, use_only_the_named_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, type=json.loads, help="the restore_corpus block, as JSON")
    parser.add_argument("--tokenizer", required=True, help="model whose tokenizer counts the sample's tokens: a "
                        "folder, or a prefetched hub model as org/name@revision")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--token-env", default="", help="the environment variable holding a hub token, if any")
    args = parser.parse_args()
    spec = args.spec
    counts = prepare_text_corpus(spec["source"], spec["split"], spec["config_name"], spec["text_field"],
                                 spec["sample_tokens"], locate_model(args.tokenizer), args.out,
                                 revision=spec["revision"], token=use_only_the_named_token(args.token_env))
    print(f"{counts} from {spec['source']} -> {args.out}")


if __name__ == "__main__":
    main()
