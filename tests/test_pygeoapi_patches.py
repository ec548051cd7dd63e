"""geo-publish patches pygeoapi at run time (serve/pygeoapi/runtime.py: ``to_json``, ``get_crs``) and
rewrites its templates (serve/pygeoapi/html.py). pyproject pins the pygeoapi range these were
tested on; each test here fails loudly when an upgrade changes what a patch relies on."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="module")
def patched():
    import pygeoapi.api  # noqa: F401 - modules that bind to_json/get_crs by name
    import pygeoapi.api.itemtypes  # noqa: F401
    import pygeoapi.crs  # noqa: F401
    import pygeoapi.util  # noqa: F401

    from geo_publish.serve.pygeoapi.patches import patch_pygeoapi

    names = ("to_json", "get_crs", "filter_dict_by_key_value")
    before = {n: {a: getattr(m, a) for a in names if hasattr(m, a)}
              for n, m in sys.modules.items() if n.startswith("pygeoapi")}
    patch_pygeoapi()
    yield
    for n, found in before.items():  # leave pygeoapi as it was for other tests
        for attr, value in found.items():
            setattr(sys.modules[n], attr, value)


def test_the_names_we_patch_exist_where_pygeoapi_uses_them():
    import pygeoapi.api
    import pygeoapi.crs
    import pygeoapi.util

    assert callable(pygeoapi.util.to_json) and callable(pygeoapi.crs.get_crs)
    assert hasattr(pygeoapi.api, "to_json"), "pygeoapi.api no longer imports to_json by name"


def test_to_json_keeps_cyrillic_and_escapes_angle_brackets(patched):
    import pygeoapi.api
    import pygeoapi.util

    for fn in (pygeoapi.util.to_json, pygeoapi.api.to_json):
        text = fn({"name": "Ташкент <b>&</b>"}, pretty=False)
        assert "Ташкент" in text and "\\u0422" not in text  # UTF-8 as is, not \\u escapes
        assert "<" not in text and ">" not in text and "\\u003c" in text  # inert in HTML
        assert "&lt;" not in text  # not HTML entities, which corrupted values


def test_get_crs_is_cached_per_thread(patched):
    import pygeoapi.crs

    uri = "http://www.opengis.net/def/crs/EPSG/0/32642"
    a, b = pygeoapi.crs.get_crs(uri), pygeoapi.crs.get_crs(uri)
    assert a is b and a.to_epsg() == 32642


def test_template_fixes_still_apply(tmp_path):
    from geo_publish.serve.pygeoapi.html import write_templates

    out = write_templates(tmp_path / "templates")  # raises when a page fix no longer applies
    base = (out / "_base.html").read_text(encoding="utf-8")
    assert 'dir="ltr"' in base and "text_direction" not in base
    assert "unpkg.com" not in base and "cdnjs" not in base


def test_templates_see_the_configuration_installed_now(patched):
    """pygeoapi caches the translated configuration per language for the life of the process;
    the patch keys it by the configuration, so a layer published live renders (was a 500)."""
    from pygeoapi import l10n
    from pygeoapi.util import render_j2_template

    locale = l10n.str2locale("en")
    server = {"url": "http://x", "templates": {}, "languages": ["en"]}

    def config(*ids: str) -> dict:
        return {"server": server, "metadata": {}, "resources": {i: {"title": {"en": i}} for i in ids}}

    old, new = config("a"), config("a", "b")
    assert "b" not in l10n.translate_struct(old, locale, True)["resources"]
    assert set(l10n.translate_struct(new, locale, True)["resources"]) == {"a", "b"}
    assert l10n.translate_struct(new, locale, True) is l10n.translate_struct(new, locale, True)  # cached
    assert l10n.translate_struct(new, locale, True)["resources"]["b"]["title"] == "b"
    import inspect

    # the patch reaches the templates only while pygeoapi looks the function up in its module
    assert "l10n.translate_struct(config" in inspect.getsource(render_j2_template)


def test_resources_filter_is_kept_for_the_installed_configuration_only(patched):
    """pygeoapi filters the configuration's resources by type on nearly every request (a loop
    over every collection): for the installed resources it is worked out once per type."""
    import pygeoapi.api
    import pygeoapi.api.itemtypes
    import pygeoapi.util

    from geo_publish.serve.pygeoapi.patches import freeze_resources

    resources = {f"c{i}": {"type": "collection" if i % 2 else "process"} for i in range(6)}
    for fn in (pygeoapi.util.filter_dict_by_key_value, pygeoapi.api.itemtypes.filter_dict_by_key_value,
               pygeoapi.api.filter_dict_by_key_value):
        assert set(fn(resources, "type", "collection")) == {"c1", "c3", "c5"}
    freeze_resources(resources)
    first = pygeoapi.api.filter_dict_by_key_value(resources, "type", "collection")
    assert first is pygeoapi.util.filter_dict_by_key_value(resources, "type", "collection")  # kept
    assert set(pygeoapi.util.filter_dict_by_key_value(resources, "type", "process")) == {"c0", "c2", "c4"}
    other = dict(resources, c7={"type": "collection"})  # another dict (a new configuration): not kept
    assert "c7" in pygeoapi.util.filter_dict_by_key_value(other, "type", "collection")
    freeze_resources(other)
    assert "c7" in pygeoapi.api.filter_dict_by_key_value(other, "type", "collection")
