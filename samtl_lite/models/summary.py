"""Counting a model's parameters part by part."""

from __future__ import annotations

from torch import nn


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters of each top-level part and in total (taught in 03_heads)."""
    counts = {name: sum(p.numel() for p in part.parameters() if p.requires_grad)
              for name, part in model.named_children()}
    counts["total"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts


def summary(model: nn.Module) -> str:
    """`parameter_counts` as an aligned table, one part per line (taught in 03_heads)."""
    counts = parameter_counts(model)
    width = max(len(k) for k in counts)
    return "\n".join(f"{k:<{width}}  {v:>12,}" for k, v in counts.items())
