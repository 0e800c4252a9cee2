"""Registers the billing configuration service with Airflow's api-server, at /bds: the
configuration and ledger API (bds.config.api, bds.console.api) and the billing console's
pages (bds.console.pages), which the UI shows in its navigation under Billing. The UI's own
server serves them, behind the UI's login, on every deployment."""

from airflow.plugins_manager import AirflowPlugin

from bds.config.asgi import ConfigurationApp
from bds.console import PAGES


class BillingConfigurationPlugin(AirflowPlugin):
    name = "bds_configuration"
    fastapi_apps = [{"app": ConfigurationApp(), "url_prefix": "/bds", "name": "bds billing configuration"}]
    # The console in the UI's navigation: "Billing" at the top level (the Tenants page, whose tabs
    # lead to the others), and every page under Plugins > Billing. Each is shown in a frame at
    # /plugin/billing-<page>; the hrefs are relative, so a proxy prefix is kept.
    external_views = [
        {
            "name": "Billing",
            "href": "bds/console/tenants",
            "destination": "nav",
            "url_route": "billing",
            "icon": "bds/console/assets/billing.svg",
            "nav_top_level": True,
        },
        *(
            {
                "name": title,
                "href": f"bds/console/{page}",
                "destination": "nav",
                "category": "Billing",
                "url_route": f"billing-{page}",
            }
            for page, title in PAGES.items()
        ),
    ]
