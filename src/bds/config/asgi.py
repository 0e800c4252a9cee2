"""The ASGI app the plugin registers with Airflow's api-server: it builds the configuration
API (bds.config.api) on its first request. Every process that loads plugins (each task does,
looking for macros) imports the plugin; this keeps FastAPI and Airflow's API modules, most of
a second of imports, out of all of them but the api-server."""

from __future__ import annotations


class ConfigurationApp:
    def __init__(self) -> None:
        self._app = None

    async def __call__(self, scope, receive, send) -> None:
        if self._app is None:
            from bds.config.api import create_app

            self._app = create_app()
        await self._app(scope, receive, send)
