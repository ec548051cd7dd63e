"""geo-publish: publish geographic open data with a data passport, an OGC API and a map."""

from geo_publish.errors import GeoPublishError, IngestError, StoreError

__all__ = ["GeoPublishError", "IngestError", "StoreError", "__version__"]
__version__ = "0.1.0"
