"""`weighted --pipeline` starts the CRM's open deals exactly as `run --pipeline` does."""

from __future__ import annotations

import json

import pytest

from sim.cli import main
from sim.report import money
from sim.weighted import weighted_text

# Open deals of the equipment scenario, old in their stages (lognormal stage times: the age
# changes what is left) and at their own amounts (not the scenario's 400k); one on hold.
EXPORT = """deal_id,stage,amount,created,stage_entered
A1,need,120000,2026-01-05,2026-02-01
A2,need,150000,2027-02-20,2027-03-01
B1,market,200000,2026-03-10,2026-06-15
B2,market,90000,2026-09-01,2026-11-20
C1,moment,250000,2025-11-01,2026-04-01
D1,contract,300000,2026-05-01,2027-01-15
E1,dormant,80000,2026-01-01,2026-12-01
"""
AS_OF = "2027-03-31"
PROBS = (0.10, 0.25, 0.70, 0.90)  # the defaults spread over equipment's four stages
AMOUNTS_BY_STAGE = ((120000, 150000), (200000, 90000), (250000,), (300000,))


def _json_after_notes(text: str) -> dict:
    return json.loads(text[text.index("{") :])


@pytest.fixture
def export(tmp_path):
    path = tmp_path / "open-deals.csv"
    path.write_text(EXPORT, encoding="utf-8")
    return str(path)


def test_weighted_simulates_the_pipeline_as_run_does(export, tmp_path, capsys):
    common = ["equipment", "-n", "20", "--seed", "3", "--pipeline", export, "--as-of", AS_OF]
    assert main(["weighted", *common, "-j", "1", "--json"]) == 0
    found = _json_after_notes(capsys.readouterr().out)
    run = [*common, "-j", "1", "--json", "--no-plots", "--deals", "none"]
    # weighted simulates no new deals: the same run without arrivals
    run += ["--set", "deals.arrivals_per_month=0", "-o", str(tmp_path / "run")]
    assert main(["run", *run]) == 0
    summary = _json_after_notes(capsys.readouterr().out)
    assert found["start_date"] == AS_OF
    assert found["recorded"]["simulated"]["bookings"] == summary["bookings"]
    # the headline compares the CRM's figure with that simulation, in percent of the simulation
    crm, sim = found["recorded"]["crm_weighted"], summary["bookings"]["mean"]
    assert crm < sim
    headline = f"{round(100 * (sim - crm) / sim)}% below the {money(sim, 'EUR')} the simulation"
    assert headline in " ".join(weighted_text(found).split())


def test_weighted_weighs_each_crm_deal_at_its_own_amount(export, capsys):
    args = ["weighted", "equipment", "-n", "2", "--json", "--pipeline", export, "--as-of", AS_OF]
    assert main(args) == 0
    found = _json_after_notes(capsys.readouterr().out)
    expected = sum(p * sum(a) for p, a in zip(PROBS, AMOUNTS_BY_STAGE, strict=True))
    assert found["recorded"]["crm_weighted"] == pytest.approx(expected)
    assert found["mean_amount"] == pytest.approx(1_190_000 / 7)
    assert found["dormant"]["deals"] == 1  # simulated, but a CRM weighs it at 0
    # one stage earlier: the same amounts, weighed at the previous stage's percentage
    earlier = PROBS[0] * (270000 + 290000) + PROBS[1] * 250000 + PROBS[2] * 300000
    assert found["one_stage_earlier"]["crm_weighted"] == pytest.approx(earlier)


def test_weighted_text_lists_the_dormant_deals(export, capsys):
    assert main(["weighted", "equipment", "-n", "2", "--pipeline", export, "--as-of", AS_OF]) == 0
    out = capsys.readouterr()
    assert "dormant (on hold)" in out.out and "0%" in out.out
    assert "7 open deals from" in out.err
