"""One HTTP POST to a partner, with a connect timeout, a total time budget and a cap on the answer.

TODO(outbound): this is the thin stand-in for `scm/outbound/` (the one outbound policy: address
policy checked at connect time, budgets, DB-backed per-partner breakers). When it is on main, `post`
calls it with the partner key `partner:<supplier code>` and maps its errors (AddressRefused and
ResponseTooLarge are not retryable; CircuitOpen, CallFailed, DeadlineExceeded are) onto
TransportError; nothing else in the app changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from partners.exceptions import TransportError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def post(
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    partner: str,
    connect_timeout: float,
    total_timeout: float,
    max_response_bytes: int,
) -> Answer:
    """POST and read the whole answer within `total_timeout`. Raises TransportError (retryable for
    connection errors, timeouts and 408/425/429/5xx; not for other 4xx or an oversized answer)."""
    deadline = time.monotonic() + total_timeout
    try:
        with requests.post(
            url,
            data=body,
            headers=headers,
            timeout=(connect_timeout, total_timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > max_response_bytes:
                    raise TransportError(
                        f"{partner}: the answer is larger than {max_response_bytes} bytes", retryable=False
                    )
                if time.monotonic() > deadline:
                    raise TransportError(f"{partner}: the answer took longer than {total_timeout:g}s")
                chunks.append(chunk)
            answer = Answer(response.status_code, dict(response.headers), b"".join(chunks))
    except requests.RequestException as exc:
        raise TransportError(f"{partner}: {type(exc).__name__} calling {url}: {exc}"[:500]) from None
    if answer.status >= 300:
        snippet = answer.body[:200].decode("utf-8", "replace").strip()
        raise TransportError(
            f"{partner}: HTTP {answer.status} from {url}" + (f": {snippet}" if snippet else ""),
            retryable=answer.status in RETRYABLE_STATUS or answer.status >= 500,
        )
    return answer
