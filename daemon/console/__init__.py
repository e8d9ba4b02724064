"""The console: the web screen where admins see and run every linkage (/console/).

Server-rendered with Jinja2 on the API listener; every page works without JavaScript,
and htmx (vendored, static/) only adds live updates. Users, roles and passwords come
from `[users.NAME]`; sessions and the audit log live in the store. Built into the web
app by daemon.web.app through `install()`.
"""

from daemon.console.app import install

__all__ = ["install"]
