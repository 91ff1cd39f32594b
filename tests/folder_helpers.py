"""What tests put into a results folder by hand."""

#: A manifest.json of earlier dealsim results: what --force may replace (sim.atomic).
OUR_MANIFEST = '{"dealsim_version": "0.1.0"}'
