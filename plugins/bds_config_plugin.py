"""Registers the billing configuration API (bds.config.api) with Airflow's api-server, at /bds:
the UI's own server serves it, behind the UI's login, on every deployment."""

from airflow.plugins_manager import AirflowPlugin

from bds.config.asgi import ConfigurationApp


class BillingConfigurationPlugin(AirflowPlugin):
    name = "bds_configuration"
    fastapi_apps = [{"app": ConfigurationApp(), "url_prefix": "/bds", "name": "bds billing configuration"}]
