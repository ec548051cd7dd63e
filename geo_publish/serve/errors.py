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

from geo_publish.errors import GeoPublishError, NotFound


class StoreUnavailable(ProviderConnectionError):
    """The store cannot be reached right now (database down, pool exhausted): 503."""


class QueryTimeout(ProviderQueryError):
    """A store query ran past ``server.statement_timeout`` and was cancelled: 503."""


class QueryTooLarge(ProviderInvalidQueryError):
    """The request asks for more than a configured budget (coverage cells, IN list): 400."""


class BodyTooLarge(GeoPublishError):
    """The request body is larger than ``server.max_body_bytes``: 413."""


class UnsupportedMediaType(GeoPublishError):
    """The request body is not of a type the endpoint takes: 415."""


class BadRequest(GeoPublishError):
    """A malformed request (parameter, body): 400."""


class MethodNotAllowed(GeoPublishError):
    """The method is not served on this path: 405, with the methods that are (``allow``)."""

    def __init__(self, message: str, allow: str = "GET, HEAD, OPTIONS") -> None:
        super().__init__(message)
        self.allow = allow


class NotAcceptable(GeoPublishError):
    """None of the media types the client accepts is offered here: 406."""


class Conflict(GeoPublishError):
    """The request does not fit the resource's state (an upload's offset, a job not ready): 409."""


class PreconditionFailed(GeoPublishError):
    """``If-Match`` names a state the resource is no longer in: 412."""


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
