"""The chat format of a comparison: the template its IFT models are tuned in, and the world's chat probes rendered
with it, so that a chat-tuned model is asked in the format it was tuned in and every model of a comparison (base,
control, IFT@k, restored@k) sees the same prompts.

The template is the model's own when it has one (`ift.chat_template_source: model`), else the configured
`ift.chat_template`, which is also what the IFT job gives a tokenizer without a template. A base model without a
template therefore gets the configured one here, and its IFT checkpoints, which carry it, render the same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iftforget.io import read_jsonl, write_jsonl_atomic


def comparison_template(tokenizer: Any, template_file: str | Path, source: str) -> str:
    """The chat template a model is tuned (IFT) and probed in: its own (source "model", when it has one), else the
    configured file's."""
    own = tokenizer.chat_template
    if source == "model" and own:
        return own if isinstance(own, str) else own["default"]
    return Path(template_file).read_text()


def render_probe(records: list[dict[str, Any]], tokenizer: Any, template: str) -> list[dict[str, Any]]:
    """The chat probe's records with their prompts rendered by `template`: the question as a user turn with the
    generation prompt; for an answer-scoring record (`answer_text`), the answer as the template renders the
    assistant's turn after that prompt, without the whitespace a template puts between turns."""

    def render(messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=generation_prompt)

    rendered = []
    for record in records:
        user = [{"role": "user", "content": record["question"]}]
        prompt = render(user, True)
        record = record | {"prompt": prompt}
        if "answer_text" in record:
            full = render(user + [{"role": "assistant", "content": record["answer_text"]}], False)
            if not full.startswith(prompt):
                raise ValueError("the chat template renders a conversation that does not start with its own "
                                 f"generation prompt ({prompt!r}), so the answer cannot be scored after it")
            record["answer"] = full[len(prompt):].rstrip("\n")
        rendered.append(record)
    return rendered


def render_probe_file(source: str | Path, target: str | Path, tokenizer: Any, template: str) -> Path:
    """Write the rendered copy of a chat probe's data file (`source`) to `target`."""
    write_jsonl_atomic(target, render_probe(read_jsonl(source), tokenizer, template))
    return Path(target)
