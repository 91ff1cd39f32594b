"""python -m sim: the dealsim command line."""

from sim.console import entry

entry()
