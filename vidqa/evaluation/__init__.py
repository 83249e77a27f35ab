"""Evaluation: needle-in-a-haystack sweeps (needles, haystacks, generated footage, heatmaps)."""
