"""Cost confirmation: which jobs wait for their member's Confirm, and what their cost is
based on (plain values, no discord, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.catalog_types import Model
from bot.domain.options import priced_quantity

#: How long a held job waits for Confirm before it is cancelled and refunded.
CONFIRM_SECONDS = 120.0

#: ``confirm_by`` of a held job whose time ran out and which is being cancelled: no
#: Confirm can win any more (a Confirm needs a time still ahead).
EXPIRING = 0.0


def needs_confirmation(price_usd: float, threshold_usd: float | None) -> bool:
    """Whether a job estimated at ``price_usd`` asks first; a threshold of ``None`` or
    0 or less means the server never asks."""
    return threshold_usd is not None and threshold_usd > 0 and price_usd > threshold_usd


def confirm_deadline(price_usd: float, threshold_usd: float | None, now: float) -> float | None:
    """Until when a new job waits for Confirm (``None``: it runs without asking)."""
    return now + CONFIRM_SECONDS if needs_confirmation(price_usd, threshold_usd) else None


@dataclass(frozen=True, slots=True)
class CostBasis:
    """What an estimate is made of: ``quantity`` units (seconds, images, one job) at
    ``unit_usd`` each; ``documented``: Max API's published prices, not an estimate."""

    model_label: str
    per: str  # "second", "image" or "job"
    quantity: int
    unit_usd: float
    total_usd: float
    documented: bool


def cost_basis(
    model: Model, chosen: Mapping[str, Any], total_usd: float, documented: bool
) -> CostBasis:
    """The basis of ``total_usd`` for ``model`` with the Max API input ``chosen``."""
    per = model.price.per
    field = {"second": "duration", "image": "n"}.get(per)
    quantity = 1 if field is None else priced_quantity(model, chosen, field)[0]
    unit = total_usd / quantity if quantity else total_usd
    return CostBasis(model.label, per, quantity, round(unit, 6), total_usd, documented)
