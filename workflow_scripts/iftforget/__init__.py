"""Importable functions behind the workflow's rules: world, tokenizer, training, evaluation, analysis."""
