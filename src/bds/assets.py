"""Assets the DAGs exchange. Kept tiny: DAG files import it at parse time."""

from airflow.sdk import Asset

# Emitted by bds_daily when it has billed the last day of a month (extra: {"month": "YYYY-MM"});
# bds_monthly runs on it.
MONTH_END = Asset("bds://billing/daily/month-end")
