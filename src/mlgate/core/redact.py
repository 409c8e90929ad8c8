"""Secrets out of what is shown: credentials and tokens in URIs become `***`.

One place decides what of a URI is secret, for every message, log line and report that shows
one (the registry's tracking URI, a webhook's address):
- the password of `user:password@` (`user:***@`), or the whole user part when it has no
  password (`https://TOKEN@host`: a token is the usual reason for one);
- the value of a query or fragment parameter whose name says it is a credential (`token`,
  `key`, `secret`, `password`, `sig`, `auth`, `credential`, `cookie`, `code`, ...: S3, GCS
  and Azure pre-signed URLs, Google Chat webhooks);
- tokens that services carry in the path: the last segment of a Slack webhook
  (`hooks.slack.com/services/T…/B…/TOKEN`), and every segment after a `hooks`, `webhooks` or
  `webhookb2` segment (Discord, Mattermost, Microsoft Teams).

Pure string functions: the core does no I/O (and its contract keeps `urllib` out of it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MASK = "***"

# A URI in running text: a scheme, `://`, then anything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_TRAILING = ".,;:!?)]}"
_PARTS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?",
    re.DOTALL,
)
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|sig|auth|credential|sess|code|cookie", re.IGNORECASE
)
_HOOK_SEGMENTS = frozenset({"hooks", "webhooks", "webhookb2"})
_SLACK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
# Path and query values shorter than this (a Discord channel id, `sig=1`) are masked where the
# URI is shown, but not hunted through the rest of a message: a token is longer, and replacing
# every "123" would garble the text. A password is hunted whatever its length.
_SCRUB_MIN = 8
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


@dataclass(frozen=True)
class _Redacted:
    text: str
    secrets: frozenset[str]


def _unquote(text: str) -> str:
    """Percent-decoding (UTF-8), as a URI's user and password are read."""

    def decode(match: re.Match[str]) -> str:
        return bytes.fromhex(match.group(0).replace("%", "")).decode("utf-8", "replace")

    return _PERCENT.sub(decode, text)


def _authority(authority: str) -> tuple[str, set[str]]:
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return authority, set()
    user, colon, password = userinfo.partition(":")
    if colon:
        return f"{user}:{MASK}@{hostport}", {password} if password else set()
    return f"{MASK}@{hostport}", {user} if user else set()


def _host(authority: str) -> str:
    hostport = authority.rpartition("@")[2]
    return hostport.rsplit(":", 1)[0].lower() if "]" not in hostport else hostport.lower()


def _path(host: str, path: str) -> tuple[str, set[str]]:
    segments = path.split("/")
    secret: set[int] = set()
    if host in _SLACK_HOSTS and len(segments) > 2 and segments[-1]:
        secret.add(len(segments) - 1)
    for i, segment in enumerate(segments):
        if segment.lower() in _HOOK_SEGMENTS:
            secret.update(j for j in range(i + 1, len(segments)) if segments[j])
    found = {segments[i] for i in secret if len(segments[i]) >= _SCRUB_MIN}
    return "/".join(MASK if i in secret else s for i, s in enumerate(segments)), found


def _params(text: str) -> tuple[str, set[str]]:
    out: list[str] = []
    found: set[str] = set()
    for pair in text.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and _SECRET_NAME.search(name):
            out.append(f"{name}={MASK}")
            if len(value) >= _SCRUB_MIN:
                found.add(value)
        else:
            out.append(pair)
    return "&".join(out), found


def _broken_port(authority: str) -> bool:
    """True when what follows the last ':' is no port: a password holding a raw '/' ended the
    authority early (`http://user:pa/ss@host`)."""
    _, colon, port = authority.rpartition(":")
    return bool(colon) and "@" not in authority and not port.isdigit() and "]" not in port


def _redact(uri: str) -> _Redacted:
    parts = _PARTS.fullmatch(uri)
    if parts is None:
        return _Redacted(uri, frozenset())
    raw_authority, raw_path = parts["authority"], parts["path"]
    early: set[str] = set()
    if _broken_port(raw_authority) and "@" in raw_path:
        # What a library takes for the port is the password's first part: hunted too.
        early.add(raw_authority.rpartition(":")[2])
        more, _, raw_path = raw_path.rpartition("@")
        rest, slash, raw_path = raw_path.partition("/")
        raw_authority, raw_path = f"{raw_authority}{more}@{rest}", slash + raw_path
    authority, found = _authority(raw_authority)
    found |= {e for e in early if e}
    path, in_path = _path(_host(raw_authority), raw_path)
    text = parts["scheme"] + authority + path
    secrets = found | in_path
    for sep, key in (("?", "query"), ("#", "fragment")):
        if parts[key] is not None:
            masked, in_params = _params(parts[key])
            text += sep + masked
            secrets |= in_params
    return _Redacted(text, frozenset(secrets))


def redact_uri(uri: str) -> str:
    """`uri` with its credentials and tokens replaced by `***` (anything else unchanged)."""
    return _redact(uri).text


def redact_text(text: str) -> str:
    """`text` with every URI in it redacted (see `redact_uri`)."""

    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        kept = found.rstrip(_TRAILING)
        return redact_uri(kept) + found[len(kept) :]

    return _URL_IN_TEXT.sub(one, text)


def uri_secrets(uri: str) -> frozenset[str]:
    """The secret parts of `uri` (as written and percent-decoded), for `scrub`."""
    raw = _redact(uri).secrets
    return frozenset(s for s in raw | {_unquote(s) for s in raw} if s)


def scrub(text: str, uris: Iterable[str]) -> str:
    """`text` with every URI redacted and every secret of `uris` removed wherever it appears.

    For messages that quote a library's error, which may show a piece of the URI it failed on
    in its own way (`nonnumeric port: 'secret@host:5000'`).
    """
    secrets = set().union(*(uri_secrets(u) for u in uris))
    out = redact_text(text)
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted(secrets, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out
