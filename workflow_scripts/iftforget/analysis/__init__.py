"""Pseudo vs actual forgetting, measured from eval JSONs with paired bootstrap intervals over items.

- `plan`: which eval JSONs make each comparison, and where the analysis writes its results and figures (light:
  the Snakefile imports it);
- `comparison`: loading the eval JSONs of one comparison into item-aligned scores;
- `bootstrap`: resampling items and percentile intervals;
- `forgetting`: drop, recovered, residual, stages, k*, item paths (the decomposition of one comparison);
- `tables`: the comparison JSONs and the tidy table (CSV and an HTML page for the report).
"""
