"""One table from error class to HTTP status and OGC exception code, for every path of the server.

pygeoapi turns a provider's exception into a response by its ``http_status_code`` and
``ogc_exception_code`` attributes; our own paths (the fast path, passports, reports, the request
checks in the middleware) look the same table up with ``status_of``. The classes below are what
our providers raise; their attributes come from ``TABLE``, so the two can never disagree.
"""

from __future__ import annotations

from http import HTTPStatus

from pygeoapi.provider.base import (
    ProviderConnectionError, ProviderGenericError, ProviderInvalidQueryError,
    ProviderItemNotFoundError, ProviderQueryError,
)

from geo_publish.errors import (
    BadRequest, BodyTooLarge, Conflict, MethodNotAllowed, NotAcceptable, NotFound, PreconditionFailed,
    UnsupportedMediaType,
)


class StoreUnavailable(ProviderConnectionError):
    """The store cannot be reached right now (database down, pool exhausted): 503."""


class QueryTimeout(ProviderQueryError):
    """A store query ran past ``server.statement_timeout`` and was cancelled: 503."""


class QueryTooLarge(ProviderInvalidQueryError):
    """The request asks for more than a configured budget (coverage cells, IN list): 400."""


# most specific first: status_of walks it in order
TABLE: list[tuple[type[BaseException], HTTPStatus, str]] = [
    (QueryTimeout, HTTPStatus.SERVICE_UNAVAILABLE, "QueryTimeout"),
    (StoreUnavailable, HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    (QueryTooLarge, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (BodyTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge"),
    (UnsupportedMediaType, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType"),
    (MethodNotAllowed, HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed"),
    (BadRequest, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (NotAcceptable, HTTPStatus.NOT_ACCEPTABLE, "NotAcceptable"),
    (Conflict, HTTPStatus.CONFLICT, "Conflict"),
    (PreconditionFailed, HTTPStatus.PRECONDITION_FAILED, "PreconditionFailed"),
    (ProviderInvalidQueryError, HTTPStatus.BAD_REQUEST, "InvalidQuery"),
    (ProviderItemNotFoundError, HTTPStatus.NOT_FOUND, "NotFound"),
    (NotFound, HTTPStatus.NOT_FOUND, "NotFound"),
    (ProviderConnectionError, HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    (ProviderGenericError, HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode"),
]


def status_of(err: BaseException) -> tuple[HTTPStatus, str]:
    for cls, status, code in TABLE:
        if isinstance(err, cls):
            return status, code
    return HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode"


for _cls, _status, _code in TABLE:  # what pygeoapi reads off our providers' exceptions
    if issubclass(_cls, ProviderGenericError) and _cls.__module__ == __name__:
        _cls.http_status_code = _status
        _cls.ogc_exception_code = _code
