"""The web console at ``/ui`` on a port of its own (an origin apart from the content users
control): sign-in, dashboard, jobs, tuning, endpoints, transforms, functions, gateway APIs and
objects, with Plotly charts served from the installed package."""

from cove.console._app import PREFIX, Console
from cove.console._auth import COOKIE, console_key, mint_link
from cove.console._origin import console_app, moved_to

__all__ = ["COOKIE", "PREFIX", "Console", "console_app", "console_key", "mint_link", "moved_to"]
