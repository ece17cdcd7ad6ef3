"""Champion/challenger promotion on the out-of-time holdout."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide(new_auc: float, champion_auc: float | None, tolerance: float) -> PromotionDecision:
    """Promote iff there is no champion or ``new_auc >= champion_auc - tolerance``.

    Both AUCs must come from the same holdout rows. The tolerance keeps a retrained model
    on fresh data from losing to an older one by noise; the reason states the figures.
    """
    if math.isnan(new_auc):
        raise ValueError("new model holdout AUC is NaN; cannot decide promotion")
    if champion_auc is None or math.isnan(champion_auc):
        return PromotionDecision(True, f"no champion to compare; holdout AUC {new_auc:.4f}")
    floor = champion_auc - tolerance
    figures = (
        f"holdout AUC {new_auc:.4f} vs champion {champion_auc:.4f} "
        f"(tolerance {tolerance:.4f}, floor {floor:.4f})"
    )
    # Rounded so that a value exactly at the floor is not lost to float error (0.7 - 0.005).
    if round(new_auc - floor, 12) >= 0:
        return PromotionDecision(True, f"promoted: {figures}")
    return PromotionDecision(False, f"kept champion: {figures}")
