"""One table from error to HTTP status and OGC exception code, for every answer the server gives:
the API, the portal's pages and JSON, the site.

pygeoapi turns a provider's exception into a response by its ``http_status_code`` and
``ogc_exception_code`` attributes; our own paths look the same table up with ``status_of``. The
store's read errors (``read/errors.py``) get their attributes from ``TABLE``, so the two can
never disagree. Storage and the portal raise the errors of ``errors.py`` without knowing HTTP.
"""

from __future__ import annotations

from http import HTTPStatus

from pydantic import ValidationError
from pygeoapi.provider.base import (
    ProviderConnectionError, ProviderGenericError, ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geo_publish.errors import (
    BadRequest, BodyTooLarge, ConfigError, Conflict, GeoPublishError, IngestError,
    MethodNotAllowed, NotAcceptable, NotFound, NotReady, PreconditionFailed, Refused, StoreError, TooMany,
    UnsupportedMediaType, UsageError,
)
from geo_publish.read import errors as read_errors
from geo_publish.read.errors import QueryTimeout, QueryTooLarge, StoreUnavailable

# most specific first: status_of walks it in order
TABLE: list[tuple[type[BaseException], HTTPStatus, str]] = [
    (StoreUnavailable, HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    (NotReady, HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    (QueryTimeout, HTTPStatus.SERVICE_UNAVAILABLE, "QueryTimeout"),
    (QueryTooLarge, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (BodyTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge"),
    (UnsupportedMediaType, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType"),
    (MethodNotAllowed, HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed"),
    (BadRequest, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (NotAcceptable, HTTPStatus.NOT_ACCEPTABLE, "NotAcceptable"),
    (Conflict, HTTPStatus.CONFLICT, "Conflict"),
    (PreconditionFailed, HTTPStatus.PRECONDITION_FAILED, "PreconditionFailed"),
    (TooMany, HTTPStatus.TOO_MANY_REQUESTS, "TooManyRequests"),
    (ProviderInvalidQueryError, HTTPStatus.BAD_REQUEST, "InvalidQuery"),
    (ProviderItemNotFoundError, HTTPStatus.NOT_FOUND, "NotFound"),
    (NotFound, HTTPStatus.NOT_FOUND, "NotFound"),
    (ProviderConnectionError, HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    (ProviderGenericError, HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode"),
    # the store failing is an outage to wait out; a rejected value or source is the client's
    (StoreError, HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    (UsageError, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (ConfigError, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (IngestError, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    (ValidationError, HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
]
# the refusals of who is asking: their status is the kind of refusal
_REFUSED = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Gone",
            429: "TooManyRequests"}
# the OGC code of a bare status (Starlette's own HTTP errors): the first the table gives it
CODES: dict[int, str] = {**_REFUSED}
for _cls, _status, _code in TABLE:
    CODES.setdefault(int(_status), _code)


def status_of(err: BaseException) -> tuple[HTTPStatus, str]:
    if isinstance(err, Refused):
        return HTTPStatus(err.status), _REFUSED.get(err.status, "Forbidden")
    for cls, status, code in TABLE:
        if isinstance(err, cls):
            return status, code
    return HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode"


def describe(err: BaseException) -> tuple[int, str, str]:
    """(status, OGC code, one-line text) of an error, as every path answers it."""
    status, code = status_of(err)
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        text = f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    elif isinstance(err, GeoPublishError):
        text = err.one_line()
    else:
        text = " ".join(str(getattr(err, "message", None) or err or code).split())
    return int(status), code, text


for _cls, _status, _code in TABLE:  # what pygeoapi reads off our providers' exceptions
    if issubclass(_cls, ProviderGenericError) and _cls.__module__ == read_errors.__name__:
        _cls.http_status_code = _status
        _cls.ogc_exception_code = _code
