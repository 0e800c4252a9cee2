"""The billing console: the Billing section of Airflow's UI (plugins/bds_config_plugin.py).

Pages (``bds.console.pages``) are served by the configuration service's app at
``/bds/console/...`` and shown by Airflow's UI in its navigation (``external_views``); they
read and change everything through the REST API (``bds.config.api`` for the configuration,
``bds.console.api`` for the billing ledger), with the user's own Airflow login. Charts are
drawn by plotly.js, served from the installed ``plotly`` package.
"""

# (route, title): the pages, in the order of the console's navigation and of the UI's Billing
# menu (the plugin reads this; it imports nothing heavier).
PAGES = {
    "tenants": "Tenants",
    "settings": "Global Settings",
    "events": "Global Events",
    "history": "History",
    "results": "Results",
    "anomalies": "Anomalies",
    "files": "Files & transmission",
}
