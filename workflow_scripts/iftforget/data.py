"""External data for the paper-scale grid: an instruction dataset mapped to chat messages, and a fixed,
deterministic sample of a pre-training-like corpus. Sources are hub ids at a revision or local files/folders, both
through `datasets`, and each is written once as a local JSON-lines file that the training jobs read (from a hub id by
a prefetch_* job, on a host with internet).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, IterableDataset, load_dataset

from iftforget.hub import DEFAULT_REVISION, fetching
from iftforget.io import write_jsonl_atomic
from iftforget.settings import from_block

LOCAL_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "text"}


@dataclass(frozen=True)
class IFTMapping:
    """How records of an instruction dataset become chat messages (keys of an `ift_datasets` entry; the defaults
    are the schema's)."""

    format: str  # messages | instruction
    messages_field: str
    instruction_field: str
    input_field: str
    output_field: str

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> "IFTMapping":
        return from_block(cls, entry)


def load_source(source: str, split: str, config_name: str = "", streaming: bool = False, revision: str = "",
                token: str | None = None) -> Dataset | IterableDataset:
    """A hub dataset id at a revision (empty: the default branch), or a local file or folder, loaded with `datasets`
    (a local file by its suffix)."""
    path = Path(source).expanduser()
    if path.is_file():
        builder = LOCAL_FORMATS.get(path.suffix)
        if builder is None:
            raise ValueError(f"{source}: unknown file type {path.suffix!r}; use one of {sorted(LOCAL_FORMATS)}")
        return load_dataset(builder, data_files={split: str(path)}, split=split, streaming=streaming)
    if path.is_dir():
        return load_dataset(str(path), split=split, streaming=streaming)
    with fetching(f"dataset {source} at revision {revision or DEFAULT_REVISION}"):
        return load_dataset(source, config_name or None, split=split, streaming=streaming,
                            revision=revision or DEFAULT_REVISION, token=token)


def to_messages(record: dict[str, Any], mapping: IFTMapping) -> list[dict[str, str]]:
    """One record as user/assistant messages; instruction data puts the optional input under the instruction."""
    if mapping.format == "messages":
        messages = record[mapping.messages_field]
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    if mapping.format == "instruction":
        prompt = record[mapping.instruction_field]
        extra = record.get(mapping.input_field) or ""
        if extra:
            prompt = f"{prompt}\n\n{extra}"
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": record[mapping.output_field]}]
    raise ValueError(f"unknown IFT data format {mapping.format!r}; use messages or instruction")


def prepare_ift_dataset(
    source: str, split: str, config_name: str, mapping: IFTMapping, max_examples: int, output: str | Path,
    revision: str = "", token: str | None = None,
) -> int:
    """Write the dataset as JSON lines of {"messages": [...]}; records without an assistant turn are dropped."""
    dataset = load_source(source, split, config_name, revision=revision, token=token)
    if max_examples:
        dataset = dataset.select(range(min(max_examples, len(dataset))))
    records = []
    for record in dataset:
        messages = to_messages(record, mapping)
        if any(m["role"] == "assistant" and m["content"] for m in messages):
            records.append({"messages": messages})
    if not records:
        raise ValueError(f"{source}: no record has an assistant turn under the configured mapping")
    write_jsonl_atomic(output, records)
    return len(records)


def sample_by_tokens(texts: Iterable[str], count_tokens, budget: int) -> Iterator[str]:
    """Texts in stream order until `budget` tokens are reached: a fixed, deterministic sample of the stream."""
    total = 0
    for text in texts:
        if not text or not text.strip():
            continue
        yield text
        total += count_tokens(text)
        if total >= budget:
            return


def prepare_text_corpus(
    source: str, split: str, config_name: str, text_field: str, sample_tokens: int, tokenizer_path: str,
    output: str | Path, revision: str = "", token: str | None = None,
) -> dict[str, int]:
    """Stream the corpus and write the first `sample_tokens` tokens' worth of documents (counted with the base
    model's tokenizer) as JSON lines of {"text": ...}."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    stream = load_source(source, split, config_name, streaming=True, revision=revision, token=token)
    texts = (record[text_field] for record in stream)
    with fetching(f"restoration corpus {source}"):  # a stream reads the hub while it is iterated
        chosen = list(sample_by_tokens(texts, lambda t: len(tokenizer(t)["input_ids"]), sample_tokens))
    if not chosen:
        raise ValueError(f"{source}: the field {text_field!r} holds no text")
    write_jsonl_atomic(output, ({"text": t} for t in chosen))
    return {"documents": len(chosen), "tokens_at_least": sample_tokens}
