"""The web console at ``/ui``: sign-in, dashboard, jobs, tuning, endpoints, transforms,
functions, gateway APIs and objects, with Plotly charts served from the installed package."""

from cove.console._app import PREFIX, Console
from cove.console._auth import console_key, mint_link

__all__ = ["PREFIX", "Console", "console_key", "mint_link"]
