"""One error family for geo-publish.

Every error carries a one-line user message (``str(err)``) and an optional hint that says what
to do next. The CLI prints ``error: <message> (hint)`` and exits with ``exit_code``; it never
shows a traceback for these.
"""

from __future__ import annotations


class GeoPublishError(Exception):
    """Base of every error geo-publish raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


class UsageError(GeoPublishError, ValueError):
    """The command line or the configuration asks for something impossible."""

    exit_code = 1


class ConfigError(GeoPublishError, ValueError):
    """config.yml or a collection manifest is invalid."""


class IngestError(GeoPublishError, ValueError):
    """A source was rejected: nothing was written to the store."""


class SourceNotFound(IngestError, FileNotFoundError):
    """The source path does not exist or cannot be opened."""


class UnsafeArchive(IngestError):
    """A zip tries to escape its folder or would expand past the size limit."""


class CRSError(IngestError):
    """The source CRS is missing, unknown, or does not fit the coordinates."""


class EncodingError(IngestError):
    """The attribute encoding cannot be decided or does not decode the data."""


class StoreError(GeoPublishError, OSError):
    """The store cannot be read or written."""


class NotFound(StoreError, LookupError):
    """A collection or version is not in the store."""


class NotReady(GeoPublishError):
    """Something the server makes is not made yet (the first map site): a 503 to retry."""


class ServeError(GeoPublishError, OSError):
    """The server cannot start (port taken, build failed)."""


class GeoPublishWarning(UserWarning):
    """Base of geo-publish's warnings."""


class BallparkTransformation(GeoPublishWarning):
    """The CRS transformation applies no datum shift: positions may be tens of metres off."""


# request errors: what a client asked for cannot be done (http/errors.py gives each its HTTP
# status; storage and the portal raise them without knowing HTTP)
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


class TooMany(GeoPublishError):
    """An address sent more than its share in a window (problem reports): 429."""


class Refused(GeoPublishError):
    """Authentication or authorisation failed: ``status`` says how (401 who are you?, 403 not
    you, 404/410 a link unknown/used, 429 too many tries)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
