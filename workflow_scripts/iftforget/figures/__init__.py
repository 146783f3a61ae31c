"""The study's figures, drawn from the tidy table of the analysis (never from models or raw evals).

One style for all (`style`): seaborn's "paper" context, sized for one column of a two-column paper (3.3 in wide),
every axis labelled, intervals from the paired bootstrap of the analysis. Each figure is written as PDF and PNG.
`group` draws the figures of one IFT run (scores, decomposition, item paths, pattern probe), `pooled` those of a
(base model, dataset) pooled over its runs, `corpora` its restoration corpora compared, `overview` those across runs
and datasets, `limit` the residual's limit under restoration, `variants` the IFT recipes of a pool compared.
"""

import matplotlib

matplotlib.use("Agg")  # files only, never a display; set before any submodule imports pyplot
