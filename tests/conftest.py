"""Fixtures; helpers live in gp_testlib (a site-packages 'tests' package would shadow ours)."""

from gp_testlib import points, polygons, project  # noqa: F401  (fixtures)
