import math

import pytest

from precision_marketing.promotion import PromotionDecision, decide


def test_no_champion_promotes():
    assert decide(0.71, None, 0.005) == PromotionDecision(
        True, "no champion to compare; holdout AUC 0.7100"
    )


def test_better_challenger_is_promoted():
    decision = decide(0.75, 0.72, 0.005)
    assert decision.promote
    assert decision.reason == (
        "promoted: holdout AUC 0.7500 vs champion 0.7200 (tolerance 0.0050, floor 0.7150)"
    )


def test_worse_challenger_keeps_the_champion():
    decision = decide(0.70, 0.72, 0.005)
    assert not decision.promote
    assert decision.reason == (
        "kept champion: holdout AUC 0.7000 vs champion 0.7200 (tolerance 0.0050, floor 0.7150)"
    )


def test_exactly_at_the_tolerance_boundary_promotes():
    # 0.7 - 0.005 is 0.6950000000000001 in floats; the boundary must still count.
    assert decide(0.695, 0.7, 0.005).promote
    assert not decide(0.6949, 0.7, 0.005).promote
    assert decide(0.7, 0.7, 0.0).promote
    assert not decide(0.6999, 0.7, 0.0).promote


def test_nan_champion_counts_as_none_and_nan_challenger_fails():
    assert decide(0.7, math.nan, 0.005).promote
    with pytest.raises(ValueError, match="NaN"):
        decide(math.nan, 0.7, 0.005)
