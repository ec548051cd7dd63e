"""pygeoapi's HTML pages, made offline-safe and translated into Russian and Uzbek.

pygeoapi's templates load Leaflet, Bootstrap, Leaflet.markercluster and Swagger UI from unpkg
and cdnjs; behind a closed network or with the CDNs down the API's HTML pages break. At build
time the templates are copied with those addresses pointed at the copies vendored in the viewer
site (``/site/vendor``, same origin), and gettext catalogues for ``ru`` and ``uz`` are compiled
(pygeoapi ships none: its pages were English whatever ``lang`` said).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from geo_publish.publish.viewer import assets

_SITE = "{{ config['server']['url'] }}/site/"


def _rewrites() -> list[tuple[re.Pattern[str], str]]:
    def to(name: str, path: str = "") -> str:
        return _SITE + assets.url(name, path)

    return [
        (re.compile(r"https://unpkg\.com/leaflet@[\d.]+/dist/"), to("leaflet", "dist/")),
        (re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/leaflet/[\d.]+/"), to("leaflet", "dist/")),
        (re.compile(r"https://unpkg\.com/leaflet\.markercluster(@[\d.]+)?/dist/"),
         to("leaflet.markercluster", "dist/")),
        (re.compile(r"https://unpkg\.com/bootstrap@[\d.]+/dist/"), to("bootstrap", "dist/")),
        (re.compile(r"https://unpkg\.com/swagger-ui-dist(@[\d.]+)?/"), to("swagger-ui-dist")),
        # only for browsers of the past, and a web font: dropped
        (re.compile(r'[ \t]*<script src="https://cdnjs\.cloudflare\.com/ajax/libs/html5shiv[^>]*>'
                    r'\s*</script>\n?'), ""),
        (re.compile(r'[ \t]*<link href="https://fonts\.googleapis\.com[^>]*>\n?'), ""),
        # the direction is a gettext message: untranslated (English) it rendered literally.
        # en, ru and uz all run left to right
        (re.compile(r'dir="\{% trans %\}text_direction\{% endtrans %\}"'), 'dir="ltr"'),
    ]


# the items list as JSON-LD, valid JSON whatever the page holds (pygeoapi's left a trailing comma
# on an empty page and did not escape values)
_ITEMS_JSONLD = """{
    "@context": [{"schema": "https://schema.org/", "type": "@type",
                  "features": "schema:itemListElement", "FeatureCollection": "schema:itemList"}],
    "type": "FeatureCollection",
    "@id": {{ data.get("@id", "") | tojson }},
    "features": [
        {%- for ft in data.get("features") or [] %}
        {"@type": {{ ft.get("type", "Feature") | tojson }}, "@id": {{ ft.get("@id", "") | tojson }}}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    ]
}
"""

# links darker than Bootstrap's #0d6efd, which has 4.26:1 on the header's #f8f9fa (WCAG AA: 4.5)
_A11Y_STYLE = "<style>a, .nav-link { color: #0a58ca; } a:hover, .nav-link:hover { color: #084298; }</style>"

# where a person goes from the root page, in the page's language (uz, ru, en)
_START = """
    {%- set gp_l = (locale|string)[:2] if (locale|string)[:2] in ('uz', 'ru', 'en') else 'en' -%}
    {%- set gp_w = {
      'map': {'en': 'Map and data for everyone', 'ru': 'Карта и данные для всех', 'uz': "Hamma uchun xarita va ma'lumotlar"},
      'portal': {'en': 'Publish data (GIS officers)', 'ru': 'Публикация данных (ГИС-специалистам)', 'uz': "Ma'lumotlarni e'lon qilish (GAT mutaxassislari)"},
      'find': {'en': 'Find a layer (catalogue)', 'ru': 'Найти слой (каталог)', 'uz': 'Qatlamni topish (katalog)'},
      'api': {'en': 'API for developers (OpenAPI)', 'ru': 'API для разработчиков (OpenAPI)', 'uz': 'Dasturchilar uchun API (OpenAPI)'},
      'dcat': {'en': 'Catalogue for portals (DCAT-AP)', 'ru': 'Каталог для порталов (DCAT-AP)', 'uz': 'Portallar uchun katalog (DCAT-AP)'},
      'go': {'en': 'Where to go', 'ru': 'Куда перейти', 'uz': "Qayerga o'tish"}} -%}
    {%- set gp_u = config['server']['url'].rstrip('/') %}
    <nav class="gp-start" aria-label="{{ gp_w['go'][gp_l] }}">
      <ul class="list-unstyled">
        <li><a class="btn btn-primary btn-lg my-1" href="{{ gp_u }}/site/index.html?lang={{ gp_l }}">{{ gp_w['map'][gp_l] }}</a></li>
        <li><a class="d-inline-block py-1" href="{{ gp_u }}/collections/catalogue/items?f=html&amp;lang={{ gp_l }}">{{ gp_w['find'][gp_l] }}</a></li>
        <li><a class="d-inline-block py-1" href="{{ gp_u }}/publish/?lang={{ gp_l }}">{{ gp_w['portal'][gp_l] }}</a></li>
        <li><a class="d-inline-block py-1" href="{{ gp_u }}/openapi?f=html">{{ gp_w['api'][gp_l] }}</a></li>
        <li><a class="d-inline-block py-1" href="{{ gp_u }}/catalog.jsonld">{{ gp_w['dcat'][gp_l] }}</a></li>
      </ul>
    </nav>"""

# (template, pattern, replacement): fixes of one page (accessibility ones found by axe-core)
_COLLECTIONS_PAGER = """{% if data['numberMatched'] is defined %}
    <nav aria-label="{% trans %}Pages{% endtrans %}">
      <p>{{ data['numberReturned'] }} / {{ data['numberMatched'] }}</p>
      <ul class="pagination">
      {% for link in data['links'] if link['rel'] in ('prev', 'next') %}
        <li class="page-item"><a class="page-link" rel="{{ link['rel'] }}" href="{{ link['href'] }}">
          {% if link['rel'] == 'prev' %}{% trans %}Prev{% endtrans %}{% else %}{% trans %}Next{% endtrans %}{% endif %}</a></li>
      {% endfor %}
      </ul>
    </nav>
    {% endif %}"""
_PAGE_FIXES: list[tuple[str, re.Pattern[str], Any]] = [
    ("_base.html", re.compile(r'(<link rel="stylesheet" href="[^"]*/static/css/default\.css">)'),
     lambda m: m.group(1) + "\n    " + _A11Y_STYLE),
    # "Contact" was a mailto: with no address when the metadata has none
    ("_base.html", re.compile(r'(\s*<li class="nav-item">\s*<a href="mailto:\{\{ config\[\'metadata\'\]'
                              r"\['contact'\]\['email'\] \}\}\"[^>]*>.*?</a>\s*</li>)", re.S),
     lambda m: "{% if config['metadata']['contact']['email'] %}" + m.group(1) + "{% endif %}"),
    # the breadcrumbs were outside every landmark: a navigation landmark of their own
    ("_base.html", re.compile(r'<div class="crumbs">'), '<nav class="crumbs" aria-label="breadcrumb">'),
    ("_base.html", re.compile(r"</div>(\s*)<main>"), lambda m: "</nav>" + m.group(1) + "<main>"),
    # the landing page leads people somewhere: the map, the portal, the catalogue, the API
    ("landing_page.html", re.compile(r"(<h1>\{\{ config\['metadata'\]\['identification'\]\['title'\] \}\}</h1>\s*"
                                     r"<p>\{\{ config\['metadata'\]\['identification'\]\['description'\] \}\}</p>)"),
     lambda m: m.group(1) + _START),
    ("landing_page.html", re.compile(r"(<span><a href=\"mailto:\{\{ config\['metadata'\]\['contact'\]"
                                     r"\['email'\] \}\}\">.*?</a></span><br/>)", re.S),
     lambda m: "{% if config['metadata']['contact']['email'] %}" + m.group(1) + "{% endif %}"),
    # a license link's <a> was never closed (<a> for </a>) nor its <div>: the list held other elements
    ("collections/collection.html",
     re.compile(r"\{\{ link\['title'\] or link\['href'\] \}\}<a>\s*</li>"),
     "{{ link['title'] or link['href'] }}</a></div>\n            </li>"),
    # the page-size list had no label
    ("collections/items/index.html", re.compile(r"\{% trans %\}Limit\{% endtrans %\}:\s*<select id=\"limits\">"),
     '<label for="limits">{% trans %}Limit{% endtrans %}</label>:\n                  <select id="limits">'),

    # /collections comes in pages (serve/pygeoapi/paging.py): how many, and the way on
    ("collections/index.html", re.compile(r"(\{% endif %\}\s*)\{% endblock %\}\s*\Z"),
     lambda m: m.group(1) + _COLLECTIONS_PAGER + "\n{% endblock %}\n"),
    ("collections/items/index.jsonld", re.compile(r"\A.*\Z", re.S), _ITEMS_JSONLD),
    # the items page titled itself with data['title'], which pygeoapi never sets there: empty
    ("collections/items/index.html",
     re.compile(r"\{% block title %\}\{\{ super\(\) \}\} \{\{ data\['title'\] \}\} \{% endblock %\}"),
     "{% block title %}{{ super() }}{% for l in data['links'] if l.rel == 'collection' %}"
     "{{ l['title'] }}{% endfor %} - {% trans %}Items{% endtrans %}{% endblock %}"),
]


def write_templates(target: Path) -> Path:
    """Copy pygeoapi's templates into ``target`` with CDN addresses replaced."""
    import pygeoapi

    source = Path(pygeoapi.__file__).parent / "templates"
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    rules = _rewrites()
    for src in source.rglob("*"):
        out = tmp / src.relative_to(source)
        if src.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in (".html", ".j2", ".jinja2", ".jsonld"):
            text = src.read_text(encoding="utf-8")
            for pattern, replacement in rules:
                text = pattern.sub(replacement, text)
            for page, pattern, replacement in _PAGE_FIXES:
                if src.relative_to(source).as_posix() == page:
                    text, n = pattern.subn(replacement if callable(replacement) else
                                           lambda _m, r=replacement: r, text, count=1)
                    if not n:  # a pygeoapi that changed the page: say so at build
                        raise RuntimeError(f"pygeoapi's {page} changed: a fix of it ({pattern.pattern[:40]!r}) "
                                           "no longer applies")
            out.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(src, out)
    old = target.with_name(f".{target.name}.old.{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


# msgid -> (ru, uz); the strings of the pages a feature server shows
MESSAGES: dict[str, tuple[str, str]] = {
    "text_direction": ("ltr", "ltr"),
    "Home": ("Главная", "Bosh sahifa"),
    "Collections": ("Коллекции", "To'plamlar"),
    "Conformance": ("Соответствие стандартам", "Standartlarga muvofiqlik"),
    "API Definition": ("Описание API", "API tavsifi"),
    "OpenAPI Document": ("Документ OpenAPI", "OpenAPI hujjati"),
    "Documentation": ("Документация", "Hujjatlar"),
    "Swagger UI": ("Swagger UI", "Swagger UI"),
    "ReDoc": ("ReDoc", "ReDoc"),
    "Data collections in this service": ("Коллекции данных этого сервиса",
                                         "Ushbu xizmatdagi ma'lumotlar to'plamlari"),
    "Record collections in this service": ("Каталоги записей этого сервиса",
                                           "Ushbu xizmatdagi yozuvlar kataloglari"),
    "View the collections in this service": ("Коллекции этого сервиса",
                                             "Ushbu xizmat to'plamlarini ko'rish"),
    "View the conformance classes of this service": ("Классы соответствия этого сервиса",
                                                     "Ushbu xizmatning muvofiqlik sinflari"),
    "View the processes in this service": ("Процессы этого сервиса", "Ushbu xizmat jarayonlari"),
    "Browse": ("Просмотр", "Ko'rish"),
    "Browse Items": ("Просмотр объектов", "Obyektlarni ko'rish"),
    "Browse through the items of": ("Просмотр объектов коллекции", "Obyektlarni ko'rish:"),
    "Items": ("Объекты", "Obyektlar"),
    "Items in this collection": ("Объекты этой коллекции", "Ushbu to'plamdagi obyektlar"),
    "No items": ("Нет объектов", "Obyektlar yo'q"),
    "Queryables": ("Поля для запросов", "So'rov maydonlari"),
    "Display Queryables": ("Показать поля для запросов", "So'rov maydonlarini ko'rsatish"),
    "Display Queryables of": ("Поля для запросов коллекции", "So'rov maydonlari:"),
    "Schema": ("Схема", "Sxema"),
    "Display Schema": ("Показать схему", "Sxemani ko'rsatish"),
    "Display Schema of": ("Схема коллекции", "Sxema:"),
    "Tiles": ("Тайлы", "Plitkalar"),
    "Display Tiles": ("Показать тайлы", "Plitkalarni ko'rsatish"),
    "Display Tiles of": ("Тайлы коллекции", "Plitkalar:"),
    "Coverage": ("Покрытие", "Qoplama"),
    "Display Coverage": ("Показать покрытие", "Qoplamani ko'rsatish"),
    "Display Coverage of": ("Покрытие коллекции", "Qoplama:"),
    "Links": ("Ссылки", "Havolalar"),
    "License": ("Лицензия", "Litsenziya"),
    "Description": ("Описание", "Tavsif"),
    "Name": ("Название", "Nomi"),
    "Property": ("Свойство", "Xususiyat"),
    "Value": ("Значение", "Qiymat"),
    "Limit": ("Лимит", "Cheklov"),
    "Warning: Higher limits not recommended!": ("Внимание: большие лимиты не рекомендуются!",
                                                "Diqqat: katta cheklovlar tavsiya etilmaydi!"),
    "Next": ("Далее", "Keyingi"),
    "Pages": ("Страницы", "Sahifalar"),
    "Prev": ("Назад", "Oldingi"),
    "Reference Systems": ("Системы координат", "Koordinata tizimlari"),
    "Storage CRS": ("СК хранения", "Saqlash koordinata tizimi"),
    "CRS": ("СК", "KT"),
    "Epoch": ("Эпоха", "Davr"),
    "Contact point": ("Контакт", "Aloqa"),
    "Contact": ("Контакт", "Aloqa"),
    "Contact URL": ("Контактная страница", "Aloqa sahifasi"),
    "Contact instructions": ("Как связаться", "Bog'lanish tartibi"),
    "Email": ("Эл. почта", "Elektron pochta"),
    "Telephone": ("Телефон", "Telefon"),
    "Fax": ("Факс", "Faks"),
    "Address": ("Адрес", "Manzil"),
    "Hours": ("Часы работы", "Ish vaqti"),
    "Terms of service": ("Условия использования", "Foydalanish shartlari"),
    "URL": ("URL", "URL"),
    "Provider": ("Поставщик", "Yetkazib beruvchi"),
    "Exception": ("Ошибка", "Xato"),
    "Powered by ": ("Работает на ", "Asosida: "),
    "Processes": ("Процессы", "Jarayonlar"),
    "Jobs": ("Задания", "Vazifalar"),
    "Browse jobs": ("Просмотр заданий", "Vazifalarni ko'rish"),
    "Tile Matrix Sets": ("Наборы тайловых матриц", "Plitka matritsalari to'plamlari"),
    "View the Tile Matrix Sets available on this service": (
        "Наборы тайловых матриц этого сервиса", "Ushbu xizmatdagi plitka matritsalari to'plamlari"),
    "SpatioTemporal Assets": ("Пространственно-временные ресурсы", "Fazoviy-vaqtli resurslar"),
    "View the SpatioTemporal Assets in this service": (
        "Пространственно-временные ресурсы этого сервиса", "Ushbu xizmatdagi fazoviy-vaqtli resurslar"),
    "default": ("по умолчанию", "standart"),
}


def write_catalogues(locale_dir: Path) -> Path:
    """Compile ``<locale_dir>/{ru,uz}/LC_MESSAGES/messages.mo`` (pygeoapi's ``locale_dir``)."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    for k, lang in enumerate(("ru", "uz")):
        catalog = Catalog(locale=lang, domain="messages")
        for msgid, texts in MESSAGES.items():
            catalog.add(msgid, texts[k])
        out = locale_dir / lang / "LC_MESSAGES" / "messages.mo"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".messages.mo.{os.getpid()}")
        with open(tmp, "wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, out)
    return locale_dir
