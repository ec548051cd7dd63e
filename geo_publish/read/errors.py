"""What reading a store can fail with, as pygeoapi's provider errors: the provider hands them to
pygeoapi as they are, and ``http/errors.py`` gives each its HTTP status."""

from __future__ import annotations

from pygeoapi.provider.base import (
    ProviderConnectionError, ProviderInvalidQueryError, ProviderQueryError,
)


class StoreUnavailable(ProviderConnectionError):
    """The store cannot be reached right now (database down, pool exhausted): 503."""


class QueryTimeout(ProviderQueryError):
    """A store query ran past ``server.statement_timeout`` and was cancelled: 503."""


class QueryTooLarge(ProviderInvalidQueryError):
    """The request asks for more than a configured budget (coverage cells, IN list): 400."""
