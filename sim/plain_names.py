"""Scenario keys in plain words, for axes a planner reads: ``budget.funded_share`` ->
"Funded share (money already allocated)".

A sweep's figure names the key too (the exact thing changed), but a slide is read by people
who never opened the TOML file. Keys follow the ``--set`` paths of :mod:`sim.overrides`: stages and
decision-group roles by name (``stages.need.duration.median``,
``decision_group.cfo.tenure_mean_days``).
"""

from __future__ import annotations

__all__ = ["is_share", "plain_name"]

#: Whole keys with a plain name of their own.
NAMES = {
    "horizon_days": "Horizon (days)",
    "deals.arrivals_per_month": "New deals per month",
    "budget.funded_share": "Funded share (money already allocated)",
    "budget.release_lag_days": "Budget release lag (days)",
    "budget.recheck.probability": "Chance that final doubts send a deal back",
    "budget.fiscal_year_start": "Start of the buyers' fiscal year",
    "budget.gate": "Stage that needs the money",
    "dormant.reactivate_mean_days": "Mean time dormant before coming back (days)",
    "dormant.give_up_after_days": "Days dormant before 'no decision'",
    "shocks.rate_per_year": "Market shocks per year",
    "shocks.reset_probability": "Chance a shock resets a deal (times severity)",
    "shocks.inflow_drop": "Drop in new deals after a shock (times severity)",
    "shocks.recovery_days": "Recovery of new deals after a shock (days)",
    "shocks.from_stage": "First stage exposed to shocks",
    "shocks.to": "Where a shock sends a deal",
    "timing.max_wait_days": "Longest wait for a good market moment (days)",
    "timing.buy_when_below": "Buy when the rate falls below (times its level)",
    "timing.indicator.volatility": "Exchange-rate volatility per year",
    "timing.indicator.drift": "Exchange-rate drift per year",
}
#: Keys whose values are shares of 1, shown as percentages.
SHARES = frozenset(
    {
        "budget.funded_share",
        "budget.recheck.probability",
        "shocks.reset_probability",
        "shocks.inflow_drop",
    }
)
#: The parameters of a duration distribution, in words.
DURATION_WORDS = {
    "median": "Median",
    "p90": "P90",
    "mean": "Mean",
    "value": "Fixed",
    "low": "Shortest",
    "high": "Longest",
    "mode": "Most likely",
    "scale": "Scale of the",
    "shape": "Shape of the",
    "cv": "Variability (cv) of the",
}


def plain_name(key: str) -> str:
    """The key in words; a key of no known form reads as its last part."""
    if key in NAMES:
        return NAMES[key]
    parts = key.split(".")
    if len(parts) == 4 and parts[0] == "stages" and parts[2] == "duration":
        word = DURATION_WORDS.get(parts[3], _words(parts[3]))
        return f"{word} time in stage {parts[1]} (days)"
    if len(parts) == 4 and parts[0] == "stages" and parts[2] == "exits":
        return f"Chance that stage {parts[1]} leads to {_words(parts[3])}"
    if len(parts) == 3 and parts[:2] == ["deals", "initial"]:
        return f"Open deals in stage {parts[2]} at day 0"
    if len(parts) == 3 and parts[:2] == ["deals", "amount"]:
        return f"Deal amount: {_words(parts[2])}"
    if len(parts) == 3 and parts[0] == "decision_group" and parts[2] == "tenure_mean_days":
        return f"Mean tenure of the {_words(parts[1])} (days)"
    if parts[0] == "decision_group" and parts[2:] == ["on_change", "probability"]:
        return f"Chance that a new {_words(parts[1])} sends the deal back"
    return _words(parts[-1]).capitalize()


def is_share(key: str) -> bool:
    """True for keys whose values are shares of 1 (probabilities), shown as percentages."""
    parts = key.split(".")
    return (
        key in SHARES
        or (len(parts) == 4 and parts[0] == "stages" and parts[2] == "exits")
        or (parts[0] == "decision_group" and parts[2:] == ["on_change", "probability"])
    )


def _words(name: str) -> str:
    return name.replace("_", " ")
