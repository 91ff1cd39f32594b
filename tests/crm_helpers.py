"""The sample exports' three-stage scenario and the CRM stage names of every vendor sample
(tests/data/crm/exports), shared by the export tests."""

from __future__ import annotations

from pathlib import Path

EXPORTS = Path(__file__).parent / "data" / "crm" / "exports"
STAGES = ["qualify", "propose", "decide"]
STAGE_MAP = {
    # Salesforce defaults
    "Qualification": "qualify",
    "Proposal/Price Quote": "propose",
    "Negotiation/Review": "decide",
    # HubSpot's default pipeline
    "Appointment Scheduled": "qualify",
    "Contract Sent": "propose",
    "Decision Maker Bought-In": "decide",
    # Pipedrive's default pipeline
    "Qualified": "qualify",
    "Proposal Made": "propose",
    "Negotiations Started": "decide",
    # amoCRM (Russian), a German team, a Russian plain file
    "Первичный контакт": "qualify",
    "Переговоры": "propose",
    "Принимают решение": "decide",
    "Qualifiziert": "qualify",
    "Präsentation": "propose",
    "Verhandlung über Preise": "decide",
    "Квалификация": "qualify",
    "Предложение": "propose",
    "Решение": "decide",
}
SCENARIO = """
name = "exports"
start_date = 2024-01-01
horizon_days = 200
currency = "{currency}"
replications = 2
[deals]
initial = {{ qualify = 40 }}
arrivals_per_month = 0
amount = {{ dist = "fixed", value = 1000 }}
[[stages]]
name = "qualify"
duration = {{ dist = "exponential", mean = 30 }}
exits = {{ propose = 0.7, lost = 0.3 }}
[[stages]]
name = "propose"
duration = {{ dist = "exponential", mean = 30 }}
exits = {{ decide = 0.8, lost = 0.2 }}
[[stages]]
name = "decide"
duration = {{ dist = "exponential", mean = 20 }}
exits = {{ won = 0.7, lost = 0.3 }}
[crm.stage_map]
{stage_map}
"""


def scenario_file(tmp_path: Path, currency: str = "EUR") -> Path:
    """The scenario in ``currency``, with every vendor sample's stage names in [crm.stage_map]."""
    path = tmp_path / f"exports-{currency}.toml"
    lines = "\n".join(f'"{k}" = "{v}"' for k, v in STAGE_MAP.items())
    path.write_text(SCENARIO.format(currency=currency, stage_map=lines), encoding="utf-8")
    return path
