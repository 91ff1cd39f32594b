"""The bounds every number of a scenario must keep, in one place.

A scenario comes from a person's hand, a fit, or a careless edit; a number far outside what a
sales pipeline can mean (a horizon of 1e308 days, a gamma cv of 1e-200, a tenure of a
nanosecond) does not make a bolder forecast, it breaks the calendar, the arrays or the numerics,
or makes a run that never ends. So each kind of number has a documented range, checked by
``dealsim validate`` with the field named, carried into the JSON Schema (``dealsim schema``) by
the pydantic models that use these constants, and listed in the README ("Bounds").

The ranges are wide on purpose: they exclude nonsense, not bold plans.
"""

from __future__ import annotations

import datetime as dt
import math
import re

#: One minute, in days: the shortest mean of a duration, a tenure or a wait.
MIN_MEAN_DAYS = 1.0 / (24 * 60)
#: A century, in days: the longest horizon, duration, tenure, wait or lag.
MAX_DAYS = 36_525.0
#: The longest horizon (100 years).
MAX_HORIZON_DAYS = MAX_DAYS
#: Day 0 lies within these dates: the calendar needs a year before day 0 and years past the
#: horizon (fiscal years, quarter ends), and years outside 1900..2199 are a typo, not a plan.
MIN_START_DATE = dt.date(1900, 1, 1)
MAX_START_DATE = dt.date(2199, 12, 31)

#: Largest magnitude of any distribution parameter (an amount of a trillion, a day count...).
MAX_PARAMETER = 1e12
#: The largest deal amount (mean of the amount distribution), in the scenario's currency.
MAX_AMOUNT = 1e12
#: The mean of a factor drawn per replication (uncertainty's duration_scale, amount_scale).
MAX_FACTOR = 1_000.0
#: Gamma cv: below 1e-3 the shape (1/cv^2) is beyond what the inverse incomplete gamma draws
#: accurately; above 20 nearly every draw is 0 and the rest are astronomically long.
MIN_GAMMA_CV = 1e-3
MAX_GAMMA_CV = 20.0
#: Weibull shape: outside this range the draws overflow or collapse onto one value.
MIN_WEIBULL_SHAPE = 0.05
MAX_WEIBULL_SHAPE = 100.0
#: Lognormal p90 / median: beyond it the far tail overflows a float.
MAX_LOGNORMAL_SPREAD = 1e4

#: Replications of one run, and the seed.
MAX_REPLICATIONS = 100_000
MAX_SEED = 2**63 - 1
#: Open deals at day 0 in one stage, and arrivals per month (beyond, the run-cost budget of
#: sim.run_cost is what says no, with a message that says how large the run would be).
MAX_INITIAL_PER_STAGE = 10_000_000
MAX_ARRIVALS_PER_MONTH = 1_000_000.0
#: Seasonality and by-month multipliers.
MAX_SEASONALITY = 1_000.0
#: Stages of one scenario, and roles of its decision group.
MAX_STAGES = 50_000
MAX_ROLES = 1_000
#: Market shocks per year (one a day at most), indicator volatility and drift per year,
#: the inflow's trend per year (|trend| = 1 is a factor e^1 a year).
MAX_SHOCKS_PER_YEAR = 365.0
MAX_VOLATILITY = 10.0
MAX_DRIFT = 10.0
MAX_TREND_PER_YEAR = 1.0
#: The timing threshold relative to the indicator's level, and the arrivals walk's sd.
MAX_BUY_WHEN_BELOW = 100.0
MAX_WALK_SD = 1.0
#: Dirichlet weight of a stage's exits (as sure as this many observed exits).
MAX_EXITS_WEIGHT = 1e9
#: Names, labels and descriptions, in characters.
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 20_000

#: Reading: a scenario file's size, its nesting depth, and how many problems a message lists.
MAX_SCENARIO_BYTES = 8 * 1024 * 1024
MAX_NESTING = 32
MAX_LISTED_PROBLEMS = 20
#: CSV exports: columns of one file, and the bytes of one file.
MAX_CSV_COLUMNS = 2_000
MAX_CSV_BYTES = 512 * 1024 * 1024


#: YYYY-MM-DD within MIN_START_DATE..MAX_START_DATE (the schema adds format "date").
DATE_PATTERN = r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def calendar_date(value: object) -> dt.date:
    """A scenario's date as validate accepts it (and as the schema says): a TOML date or a
    ``YYYY-MM-DD`` string, within the years the calendar handles. A date-time or a number (both
    of which pydantic would take) is an error.

    Raises:
        ValueError: anything else, with the reason.
    """
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date of the calendar") from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"expected a date YYYY-MM-DD (a TOML date, without a time), got {value!r}")
    if not MIN_START_DATE <= value <= MAX_START_DATE:
        raise ValueError(
            f"{value.isoformat()} is outside {MIN_START_DATE} .. {MAX_START_DATE}, the years "
            "the calendar handles"
        )
    return value


def list_problems(problems: list[str], limit: int = MAX_LISTED_PROBLEMS) -> list[str]:
    """The first ``limit`` problems and a last line saying how many more there are: a file
    with 700,000 unknown keys is one screen of message, not 700,000 lines."""
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit} more"]


def mean_problem(path: str, spec, longest: float, unit: str, shortest: float = 0.0) -> str | None:
    """The problem of a distribution whose mean lies outside [shortest, longest] (a fixed 0 is
    always allowed: a step that takes no time), or None.

    ``spec`` is a :class:`sim.distributions.Distribution`; its own fields are bounded already,
    but a mean is what a run feels (a lognormal of a sane median with a huge p90 has a mean of
    millennia).
    """
    mean = spec.mean()
    if getattr(spec, "dist", None) == "fixed" and mean == 0:
        return None
    if shortest <= mean <= longest:
        return None
    return (
        f"{path}: {spec.describe()} has a mean of {plain_number(mean)} {unit}, outside "
        f"{plain_number(shortest)} .. {plain_number(longest)} {unit}"
    )


def plain_number(value: float, digits: int = 4) -> str:
    """A number a person reads at once: ``digits`` significant digits, thousands separated,
    never an exponent (0.0006944 and 36,525, not 6.944e-04 and 3.652e+04)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
