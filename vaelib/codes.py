"""Where the codes of an auto encoder lie: is a random code near the codes of real data?

Chapters 3 and 4 use the same measure for the deterministic auto encoder and the VAE: a candidate code is *far*
when its distance to the nearest training code exceeds the distance within which 99% of the training codes
already find another training code.
"""

import torch


def neighbour_threshold(codes: torch.Tensor, quantile: float = 0.99) -> torch.Tensor:
    """The ``quantile`` of the distances from each code (n, k) to its nearest other
    code."""
    pairwise = torch.cdist(codes, codes)  # (n, n)
    pairwise.fill_diagonal_(float("inf"))  # a code is not its own neighbour
    return pairwise.min(dim=1).values.quantile(quantile)


def fraction_far(candidates: torch.Tensor, codes: torch.Tensor,
                 quantile: float = 0.99) -> float:
    """Fraction of the candidate codes (m, k) farther from every code (n, k) than the
    neighbour threshold."""
    nearest = torch.cdist(candidates, codes).min(dim=1).values  # (m,)
    return (nearest > neighbour_threshold(codes, quantile)).float().mean().item()
