"""dealsim: a Monte Carlo simulator of long-cycle B2B deals."""

__version__ = "0.1.0"
