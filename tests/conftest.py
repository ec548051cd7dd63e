"""Fixtures; helpers live in gp_testlib (a site-packages 'tests' package would shadow ours)."""

from gp_testlib import pg_database, points, polygons, project  # noqa: F401  (fixtures)
from viewer_testlib import browser  # noqa: F401  (fixture)
from server_testlib import demo_server  # noqa: F401  (fixture)
