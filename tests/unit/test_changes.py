from datetime import date

from bds.catalogue import METRICS
from bds.changes import describe, row_changes
from bds.files import billing_rows, render_csv


def file_of(tenant, concurrent, enabled, **tenant_fields):
    tenant = tenant.model_copy(update=tenant_fields)
    return render_csv(
        billing_rows(
            tenant, METRICS["seats_chat"], "US", date(2026, 3, 8).isoformat(), {"concurrent": concurrent, "enabled": enabled}
        )
    )


def test_rows_are_compared_by_agent_group(tenant):
    old, new = file_of(tenant, 3, 7), file_of(tenant, 3, 9)
    assert row_changes(old, new) == ([{"AgentGroupName": "2", "old": "7", "new": "9"}], [])
    assert row_changes(old, old) == ([], [])


def test_other_columns_that_changed_are_named(tenant):
    rows, other = row_changes(file_of(tenant, 3, 7), file_of(tenant, 4, 7, tier1_account_id="T1-NEW", name="Northwind"))
    assert rows == [{"AgentGroupName": "1", "old": "3", "new": "4"}]
    assert other == ["TenantName", "Tier1AccountID"]  # in file column order
    entry = {
        "tenant_id": 101,
        "period": "2026-03-08",
        "file": "f.csv",
        "rows": rows,
        "other_columns": other,
        "previous_version": "v",
    }
    assert describe(entry) == (
        "RESTATED tenant 101 2026-03-08 f.csv: AgentGroupName 1: 3 -> 4; also changed: TenantName, "
        "Tier1AccountID (previous version kept as v)"
    )
