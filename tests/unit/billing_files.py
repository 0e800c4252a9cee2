"""Billing files as the pipeline renders them, for the tests that write them by hand."""

from __future__ import annotations

from bds.catalogue import METRICS
from bds.files import COLUMNS, parse_name, render_csv


def billing_file(name: str, *counts: int, tenant_name: str = "Northwind Care") -> bytes:
    """The CSV the file ``name`` holds with these counts (in the order of its metric's counts;
    1, 2, ... if none are given)."""
    named = parse_name(name)
    metric = METRICS[named.metric]
    values = counts or tuple(range(1, len(metric.counts) + 1))
    rows = [
        dict.fromkeys(COLUMNS, "")
        | {
            "UsageDate": named.period_label,
            "TenantID": str(named.tenant_id),
            "TenantName": tenant_name,
            "Region": named.region,
            "Metric": metric.key,
            "AgentGroupName": count.agent_group_name,
            "MessageSize": str(value),
        }
        for count, value in zip(metric.counts, values, strict=True)
    ]
    return render_csv(rows)
