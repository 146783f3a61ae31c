"""Per-item metrics of the world's probes that lm-eval does not compute itself for their output type."""


def answer_bits_per_byte(doc: dict, results: list) -> dict:
    """Bits per byte of the answer alone (a loglikelihood request: the answer given the prompt), as the pair
    (log-likelihood, bytes) that lm-eval's `bits_per_byte` aggregation sums over items, as for rolling tasks."""
    (loglikelihood, _is_greedy), = results
    return {"bits_per_byte": (loglikelihood, len(doc["answer"].encode("utf-8")))}
