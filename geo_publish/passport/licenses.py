"""Licences a passport names by SPDX id: their pages, and the EU licence vocabulary's concepts.
Kept apart from ``dcat`` (and rdflib, slow to import) for the commands that only link them."""

from __future__ import annotations

# SPDX id -> the licence's own page, and the EU licence vocabulary's concept (where it has one)
LICENSES: dict[str, tuple[str, str | None]] = {
    "CC-BY-4.0": ("https://creativecommons.org/licenses/by/4.0/", "CC_BY_4_0"),
    "CC-BY-SA-4.0": ("https://creativecommons.org/licenses/by-sa/4.0/", "CC_BYSA_4_0"),
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0"),
    "ODbL-1.0": ("https://opendatacommons.org/licenses/odbl/1-0/", "ODBL"),
    "PDDL-1.0": ("https://opendatacommons.org/licenses/pddl/1-0/", None),
    "OGL-UK-3.0": ("https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/", None),
}


def license_url(license_id: str) -> str:
    """A licence's page: known SPDX ids to their licence, an URL as it is, else SPDX's page."""
    known = LICENSES.get(license_id)
    if known:
        return known[0]
    return license_id if "://" in license_id else f"https://spdx.org/licenses/{license_id}.html"
