"""Adapter of rule `tokenizer`: train the byte-level BPE tokenizer on the world's biographies and chats."""

import argparse
import shutil
from pathlib import Path

from iftforget.io import read_jsonl, replace_dir
from iftforget.tokenizer import chat_text, train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", required=True, help="JSON lines with a text field")
    parser.add_argument("--chats", required=True, nargs="+", help="JSON lines with a messages field")
    parser.add_argument("--vocab-size", type=int, required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    texts = [r["text"] for r in read_jsonl(args.texts)]
    texts += [chat_text(r["messages"]) for chats in args.chats for r in read_jsonl(chats)]
    tokenizer = train_tokenizer(texts, args.vocab_size)
    partial = args.out.with_name(args.out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer.save_pretrained(str(partial))
    replace_dir(partial, args.out)
    print(f"tokenizer with {len(tokenizer)} tokens trained on {len(texts)} texts -> {args.out}")


if __name__ == "__main__":
    main()
