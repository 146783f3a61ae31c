"""A byte-level BPE tokenizer trained with `tokenizers` on the world's text, with the world's chat template."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from iftforget.world_text import CHAT_ASSISTANT, CHAT_TEMPLATE, CHAT_USER, EOS, PAD


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE: decoding is exact (completions compare as strings) and a large enough vocabulary makes
    most of the world's words single tokens."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD, CHAT_USER, CHAT_ASSISTANT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[CHAT_USER, CHAT_ASSISTANT],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def chat_text(messages: list[dict[str, str]]) -> str:
    """The text of a chat as the template would render it, for training the tokenizer on chat data."""
    return "".join(
        f"{CHAT_USER} {m['content']}\n" if m["role"] == "user" else f"{CHAT_ASSISTANT} {m['content']}{EOS}\n"
        for m in messages
    )

