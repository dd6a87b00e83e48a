"""The "ask first?" rule and what an estimate is based on, with the real catalogue."""

from __future__ import annotations

import pytest

from bot.domain.catalog import Catalog
from bot.domain.confirmation import (
    CONFIRM_SECONDS,
    confirm_deadline,
    cost_basis,
    needs_confirmation,
)
from bot.domain.options import estimate_price
from bot.text.confirmation import basis_text, threshold_text, usd


@pytest.mark.parametrize(
    ("price", "threshold", "asks"),
    [
        (3.2, 0.5, True),
        (0.5, 0.5, False),  # "above": the threshold itself runs without asking
        (0.51, 0.5, True),
        (3.2, 5.0, False),
        (3.2, 0.0, False),  # 0: off
        (3.2, None, False),
        (0.04, 0.01, True),
    ],
)
def test_a_job_asks_only_above_a_positive_threshold(
    price: float, threshold: float | None, asks: bool
) -> None:
    assert needs_confirmation(price, threshold) is asks


def test_the_deadline_is_two_minutes_after_acceptance() -> None:
    assert CONFIRM_SECONDS == 120
    assert confirm_deadline(3.2, 0.5, now=1000.0) == 1120.0
    assert confirm_deadline(0.2, 0.5, now=1000.0) is None


def test_veo_eight_seconds_at_forty_cents(catalog: Catalog) -> None:
    veo = catalog.get("veo3")
    total, documented = estimate_price(veo, {})
    basis = cost_basis(veo, {"prompt": "a storm"}, total, documented)
    assert (basis.per, basis.quantity, basis.unit_usd, basis.total_usd) == ("second", 8, 0.4, 3.2)
    assert basis_text(basis, "en-US") == "Veo 3.1 Quality, 8 s at $0.40/s = $3.20, estimated"


def test_a_chosen_duration_and_count_are_what_the_price_counted(catalog: Catalog) -> None:
    veo = catalog.get("veo3")
    total, documented = estimate_price(veo, {"duration": 4})
    assert cost_basis(veo, {"duration": 4}, total, documented).quantity == 4
    gpt = catalog.get("gpt-image-2/text-to-image")
    chosen = {"n": 3, "resolution": "4k"}
    total, documented = estimate_price(gpt, chosen)
    basis = cost_basis(gpt, chosen, total, documented)
    assert (basis.quantity, basis.unit_usd, basis.documented) == (3, 0.06, documented)
    text = basis_text(basis, "en-US")
    assert text.startswith(f"{gpt.label}, 3 × $0.06 an image = $0.18")


def test_texts_in_chinese_keep_the_numbers(catalog: Catalog) -> None:
    veo = catalog.get("veo3")
    basis = cost_basis(veo, {}, 3.2, False)
    text = basis_text(basis, "zh-CN")
    assert "$0.40" in text and "$3.20" in text and "估算" in text


def test_money_and_threshold_texts() -> None:
    assert usd(3.2) == "$3.20"
    assert usd(0.007) == "$0.007"
    assert threshold_text(0.5, "en-US") == "jobs above $0.50"
    assert threshold_text(0.0, "en-US") == "off (never asks)"
    assert threshold_text(None, "en-US") == "off (never asks)"
