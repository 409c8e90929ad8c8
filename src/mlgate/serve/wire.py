"""What goes in and out of the server: one JSON encoder for every answer, one reader for every
body, and the request ids.

Bodies are read and checked by hand (content type, declared and actual size, JSON) rather
than by a declared pydantic body: a request does not pay for a model instance per row.

A body is UTF-8 JSON whose strings are Unicode text: invalid UTF-8, and a lone surrogate sent
as an escape (`"\\ud800"`, which no encoder can write back), are 400s naming where they are.
orjson refuses both; the stdlib reader, which the body falls back to for the `NaN` literal,
is checked for them after parsing. A refusal never quotes the parser's own exception text, and
a value a message quotes is shortened (`shown`).

Request ids: every answer carries `x-request-id`, the client's when sane, else a fresh one. An
answered prediction carries it signed, `<id>.<tag>`: the tag is a nonce (unique to the answer)
and a MAC (keyed BLAKE2b, 96 bits) of the id, the nonce and the request's number of rows under
the deployment's feedback secret, 32 hex digits in all (`RequestIds`). POST /feedback takes
labels only for such an id, and only as many as the request had rows: an id this deployment
never issued (or issued under another secret) is refused, so nobody labels predictions that
were never made, and the nonce gives every answer its own id, so a client that sends the same
`x-request-id` twice (or another client's) gets two ids, each labelled once.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from mlgate.core.records.predlog import SIGNED_TAG_CHARS
from mlgate.serve.errors import RequestError, invalid

JSON = "application/json"
PREDICT_PARAMETERS = frozenset({"probabilities"})
SHOWN_CHARS = 64
"""How much of a client's value an error message quotes."""
FIELD_CHARS = 128
"""How long a field name an error (and the prediction log's refusal) carries."""

MAX_GIVEN_ID = 128
"""The longest client request id kept (a longer one is replaced by a fresh id)."""
NONCE_CHARS = 8
TAG_CHARS = SIGNED_TAG_CHARS  # the nonce, then a 96-bit MAC in hex
MAX_ID = MAX_GIVEN_ID + 1 + TAG_CHARS
"""The longest request id this server issues: a client's id, a dot and the signed tag."""

try:  # orjson parses and encodes several times faster; the stdlib is the fallback
    import orjson

    def _dumps(data: Any) -> bytes:
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)

    def _loads_fast(body: bytes) -> Any:
        return orjson.loads(body)

except ImportError:  # pragma: no cover - depends on the install

    def _dumps(data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode()

    def _loads_fast(body: bytes) -> Any:
        return json.loads(body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded once, without FastAPI's generic encoder."""
    return Response(_dumps(data), status_code=status, media_type=JSON, headers=headers)


def shown(value: object) -> str:
    """A client's value as a message quotes it: its ASCII repr, at most `SHOWN_CHARS` long."""
    text = ascii(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def clip(field: str | None) -> str | None:
    """A field name fit for an answer and the log: valid text, at most `FIELD_CHARS` long."""
    if field is None or (len(field) <= FIELD_CHARS and field.isascii()):
        return field
    text = field.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:FIELD_CHARS]


def error_response(exc: RequestError) -> Response:
    """The JSON answer of a refusal; its message and field are always encodable text."""
    body = exc.body()
    error = body["error"]
    error["field"] = clip(exc.field)
    try:
        return json_response(body, exc.status, exc.headers)
    except (TypeError, ValueError):  # a message quoting text no encoder writes (a surrogate)
        error["message"] = exc.message.encode("utf-8", "backslashreplace").decode("utf-8")
        return json_response(body, exc.status, exc.headers)


def describe(value: Any) -> str:
    """What kind of JSON value `value` is, for a message ("a string", "a list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# A JSON number, and nothing around it: what a string in a number field must hold exactly.
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MISSING_WORDS = frozenset({"", "nan", "null", "none", "na", "n/a"})
MAX_NUMBER_CHARS = 64
"""The longest string a number field reads as a number."""


def number_of(value: Any, nullable: bool, field: str, row: int) -> Any:
    """A number field's value: a number as sent, NaN for null (where nullable), the number a
    string holds when it is exactly a JSON number (`"3.5"`, `"42"`, `"-1e3"`, as CSV readers
    give them); anything else is a 422 naming the field and row, and saying what to send."""
    kind = type(value)
    if kind is int or kind is float:
        return value
    if value is None:
        if nullable:
            return math.nan
        raise invalid(f"{field} is null but the feature is not nullable", field=field, row=row)
    if kind is not str:
        raise invalid(f"{field} must be a number, got {describe(value)}", field=field, row=row)
    exact = len(value) <= MAX_NUMBER_CHARS and JSON_NUMBER.fullmatch(value) is not None
    number = float(value) if exact else math.nan
    if math.isfinite(number):
        return number
    if exact:
        fix = "it is too large for a number"
    elif value.strip().lower() in _MISSING_WORDS:
        fix = "send null for a missing value" if nullable else "the feature needs a value"
    else:
        fix = 'send a JSON number (3.5), or a string that is exactly one ("3.5")'
    raise invalid(
        f"{field} must be a number, got the string {shown(value)}: {fix}", field=field, row=row
    )


def too_long(field: str, row: int | None, length: int, limit: int) -> RequestError:
    """A 422: a string value over the server's limit."""
    return RequestError(
        422,
        "too_long",
        f"{clip(field)} is a string of {length} characters; this server takes at most {limit}",
        field=clip(field),
        row=row,
    )


def _refused(message: str) -> RequestError:
    return RequestError(400, "invalid_json", message, field="body")


def parse_json(body: bytes) -> Any:
    """Parse a request body; malformed JSON, or text that is not Unicode, is a 400."""
    try:
        return _loads_fast(body)
    except ValueError:
        pass
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refused(f"the body is not UTF-8 text (byte {exc.start})") from None
    try:
        # The stdlib also reads NaN / Infinity literals, which validation then judges.
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refused(
            f"the body is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise _refused("the body is not valid JSON: it nests too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise _refused("the body is not valid JSON: a number has too many digits") from None
    check_text(value)
    return value


def check_text(value: Any) -> None:
    """A 400 naming the first string (or key) of `value` that is not Unicode text."""
    for path, text in _strings(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = path or "body"
            raise RequestError(
                400,
                "invalid_text",
                f"{where} holds a lone surrogate ({shown(text[exc.start])}), which is not "
                "Unicode text: send the character itself, or its escaped surrogate pair",
                field=clip(where),
            ) from None


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON value, keys included, with its path (`a[0].b`)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if type(item) is str:
            yield path, item
        elif type(item) is list:
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif type(item) is dict:
            for key, v in item.items():
                inner = f"{path}.{key}" if path else key
                yield path or "body", key
                stack.append((inner, v))


@dataclass(slots=True)  # not frozen: built per request, and a frozen init costs more
class Body:
    """A request body still to be read: its content type, declared length and chunks."""

    ctype: str
    declared: str | None
    chunks: AsyncIterator[bytes]

    @classmethod
    def of(cls, request: Request) -> Body:
        """The body of a Starlette request."""
        headers = request.headers
        return cls(headers.get("content-type", ""), headers.get("content-length"), request.stream())

    async def json(self, limit: int) -> Any:
        """The JSON value, after checking the content type and the size against `limit`."""
        ctype = self.ctype
        media = ctype.split(";", 1)[0].strip().lower()
        if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
            raise RequestError(
                415,
                "unsupported_media_type",
                f"send Content-Type: {JSON}, not {shown(ctype) if ctype else 'none'}",
                field="content-type",
            )
        declared = self.declared
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(
                413, "body_too_large", f"the body is over {limit} bytes", field="body"
            )
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks:
            size += len(chunk)
            if size > limit:
                raise RequestError(
                    413, "body_too_large", f"the body is over {limit} bytes", field="body"
                )
            parts.append(chunk)
        return parse_json(b"".join(parts))


def probabilities_flag(query: str) -> bool | None:
    """/predict's `?probabilities=true` (or 1, yes; false, 0, no), None when the query does not
    carry it; any other parameter or value is a 400 naming it."""
    if not query:
        return None
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - PREDICT_PARAMETERS)
    if unknown:
        raise RequestError(
            400,
            "unknown_parameter",
            f"unknown query parameter {shown(unknown[0])}; /predict takes only probabilities",
            field=clip(unknown[0]),
        )
    if "probabilities" not in params:
        return None
    value = params["probabilities"][-1].lower()
    if value in ("1", "true", "yes", ""):
        return True
    if value in ("0", "false", "no"):
        return False
    raise RequestError(
        400,
        "bad_parameter",
        f"probabilities must be true or false, got {shown(value)}",
        field="probabilities",
    )


def probabilities_asked(body: Any, query: bool | None, classifier: bool) -> bool:
    """Whether a /predict request asks for probabilities: `body` is the body's `probabilities`
    and `query` the query's (None where absent). A regression model has none: asking it, even
    for false, is refused (the query's flag a 400, like any parameter it does not take)."""
    if body is not None and type(body) is not bool:
        raise invalid("probabilities must be true or false", field="probabilities")
    if not classifier and query is not None:
        raise RequestError(
            400,
            "unknown_parameter",
            "query parameter 'probabilities' applies to classifiers; this is a regression "
            "model, whose /predict takes no query parameters",
            field="probabilities",
        )
    if not classifier and body is not None:
        raise invalid(
            "probabilities applies to classifiers; this is a regression model: send only "
            "features or instances",
            field="probabilities",
        )
    return bool(body) or bool(query)


def no_parameters(query: bytes, route: str) -> None:
    """A 400 naming the first parameter of `query`, sent to a route that takes none."""
    params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
    if params:
        name = next(iter(params))
        raise RequestError(
            400,
            "unknown_parameter",
            f"unknown query parameter {shown(name)}; {route} takes no query parameters",
            field=clip(name),
        )


def new_request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is sane, else a fresh one."""
    if given and len(given) <= MAX_GIVEN_ID and given.isprintable():
        return given
    return uuid.uuid4().hex


class RequestIds:
    """Signs the ids of answered predictions and tells a signed id from any other."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a feedback secret has at least 16 bytes")
        # Keyed BLAKE2b is a MAC by design (RFC 7693), and a fifth of HMAC-SHA256's cost per
        # request; its key is at most 64 bytes, so a longer secret is hashed into one.
        self._key = secret if len(secret) <= 64 else hashlib.blake2b(secret).digest()
        # Nonces count from a random start: unique within the process, unrelated across them.
        self._serial = itertools.count(secrets.randbits(32))

    def _mac(self, request_id: str, nonce: str, rows: int) -> str:
        message = f"{request_id}\x1f{nonce}\x1f{rows}".encode()
        size = (TAG_CHARS - NONCE_CHARS) // 2
        return hashlib.blake2b(message, key=self._key, digest_size=size).hexdigest()

    def sign(self, request_id: str, rows: int) -> str:
        """`<request_id>.<nonce><mac>`, the id of one answer of `rows` rows."""
        nonce = f"{next(self._serial) & 0xFFFFFFFF:08x}"
        return f"{request_id}.{nonce}{self._mac(request_id, nonce, rows)}"

    def issued(self, signed: str, rows: int) -> bool:
        """Whether `signed` is an id this deployment gave an answered request of `rows` rows."""
        base, dot, tag = signed.rpartition(".")
        if not dot or len(tag) != TAG_CHARS or not tag.isascii():
            return False
        nonce, mac = tag[:NONCE_CHARS], tag[NONCE_CHARS:]
        return hmac.compare_digest(mac, self._mac(base, nonce, rows))
