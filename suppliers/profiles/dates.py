"""Date patterns ops can give a supplier profile (`MM/DD/YY`, `DD.MM.CCYY`, `YYMMDD`, ...), and the
century rule for two-digit years. Pure functions, no database.

A pattern is made of the tokens `CCYY` (or `YYYY`), `YY`, `MM` and `DD`, each exactly once (one year
token), with any of the separators `/ - . ` between them. A value matches a pattern only when it has
the same shape digit for digit and names a real calendar day.

**Century rule.** A two-digit year `YY` is the year ending in those digits that falls within the
100 years from 50 years before to 49 years after the day the message was received: a message
received in 2026 reads `26` as 2026, `75` as 2075 and `76` as 1976. The day of receipt (not today)
is the reference, so reprocessing a message years later reads its dates the same way.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

TOKENS = ("CCYY", "YYYY", "YY", "MM", "DD")
SEPARATORS = "/-. "
#: How far back from the day of receipt a two-digit year may reach (see the century rule).
CENTURY_WINDOW_BEFORE = 50


class BadPattern(ValueError):
    """A pattern that is not made of the date tokens; the message says what is wrong."""


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern as a regular expression with groups `year4`/`year2`, `month` and `day`."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise BadPattern("a date pattern must be a non-empty text such as MM/DD/YY")
    regex, seen, rest = "", [], pattern.upper()
    while rest:
        token = next((t for t in TOKENS if rest.startswith(t)), None)
        if token is not None:
            kind = "year" if token in ("CCYY", "YYYY", "YY") else token
            if kind in seen:
                raise BadPattern(f"{pattern!r} names the {'year' if kind == 'year' else token} twice")
            seen.append(kind)
            regex += {
                "CCYY": r"(?P<year4>\d{4})",
                "YYYY": r"(?P<year4>\d{4})",
                "YY": r"(?P<year2>\d{2})",
                "MM": r"(?P<month>\d{2})",
                "DD": r"(?P<day>\d{2})",
            }[token]
            rest = rest[len(token) :]
        elif rest[0] in SEPARATORS:
            regex += re.escape(rest[0])
            rest = rest[1:]
        else:
            raise BadPattern(
                f"{pattern!r}: {rest[0]!r} is not a date token (CCYY, YY, MM, DD) or a separator ({SEPARATORS!r})"
            )
    missing = [name for name in ("year", "MM", "DD") if name not in seen]
    if missing:
        raise BadPattern(f"{pattern!r} has no {' or '.join(missing)}")
    return re.compile(regex)


def full_year(two_digits: int, received_on: date) -> int:
    """The century rule: the year ending in `two_digits` within [received − 50, received + 49]."""
    earliest = received_on.year - CENTURY_WINDOW_BEFORE
    year = earliest - earliest % 100 + two_digits
    return year if year >= earliest else year + 100


def parse(value: str, pattern: str, *, received_on: date) -> date | None:
    """The date `value` names in `pattern`, or None when it does not match (or is no real day)."""
    match = compile_pattern(pattern).fullmatch(value)
    if match is None:
        return None
    parts = match.groupdict()
    year = int(parts["year4"]) if parts.get("year4") else full_year(int(parts["year2"]), received_on)
    try:
        return date(year, int(parts["month"]), int(parts["day"]))
    except ValueError:
        return None
