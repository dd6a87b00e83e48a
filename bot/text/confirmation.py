"""What a member reads when a job's cost asks for Confirm first, in their locale."""

from __future__ import annotations

from bot.domain.confirmation import EXPIRING, CostBasis
from bot.domain.job import Job
from bot.text.i18n import t
from bot.text.progress_card import usd

BASIS = {
    "second": "{model}, {quantity} s at {unit}/s = {total}",
    "image": "{model}, {quantity} × {unit} an image = {total}",
    "job": "{model}, {total} a job",
}
CONFIRMED = "Confirmed: job #{job_id} has started."
CANCELLED = "Cancelled: nothing was charged."
NOT_CONFIRMED = "Not confirmed within 2 minutes: nothing was charged."


def basis_text(basis: CostBasis, locale: str | None) -> str:
    """``Veo 3.1 Quality, 8 s at $0.40/s = $3.20, estimated``."""
    text = t(
        locale,
        BASIS.get(basis.per, BASIS["job"]),
        model=basis.model_label,
        quantity=basis.quantity,
        unit=usd(basis.unit_usd),
        total=usd(basis.total_usd),
    )
    return text if basis.documented else t(locale, "{basis}, estimated", basis=text)


def prompt_text(job: Job, basis: CostBasis | None, locale: str | None) -> str:
    """The private question under which Confirm and Cancel sit."""
    cost = t(
        locale, "Job #{job_id} will cost about **{total}**", job_id=job.id, total=usd(job.price_usd)
    )
    if basis is not None:
        cost = t(locale, "{cost} ({basis})", cost=cost, basis=basis_text(basis, locale))
    return t(
        locale,
        "{cost}. Confirm within 2 minutes to start it; nothing goes to Max API before you do.",
        cost=cost,
    )


def ended_text(job: Job, locale: str | None) -> str:
    """What the question becomes once a held job ended without Confirm."""
    return t(locale, NOT_CONFIRMED if job.confirm_by == EXPIRING else CANCELLED)


def threshold_text(threshold_usd: float | None, locale: str | None) -> str:
    """``/settings show``: above which estimate a job asks first."""
    if threshold_usd is None or threshold_usd <= 0:
        return t(locale, "off (never asks)")
    return t(locale, "jobs above {usd}", usd=usd(threshold_usd))


def picked_text(job: Job, locale: str | None) -> str:
    """What a picker says once its job is launched: started, or waiting for Confirm."""
    if job.confirm_by is not None:  # held for the cost's Confirm
        return t(locale, "Job #{job_id} waits for your Confirm below.", job_id=job.id)
    return t(locale, "Started job #{job_id}: its progress is below.", job_id=job.id)
