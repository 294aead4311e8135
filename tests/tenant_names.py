"""One table of tenant names for every test of the tenant rule (`dicompress_schemas.envelope
.tenant_name`): the API's token check and the notifier's handshake run the same cases, so the
two can never disagree on which names pass.

`import tenant_names` from any test (tests/ is on sys.path, as for `polling`).
"""

from __future__ import annotations

# id -> a name the contract refuses (each must be refused by every reader of a token)
REFUSED: dict[str, str] = {
    "dot-dot-slash": "../x",
    "slash-dot-dot": "acme/..",
    "star": "*",
    "nul": "ac\x00me",
    "cyrillic-a": "\u0430cme",  # CYRILLIC SMALL LETTER A, drawn as the Latin 'a'
    "fullwidth": "\uff41cme",  # FULLWIDTH LATIN SMALL LETTER A
    "5000-characters": "a" * 5000,
    "65-characters": "a" * 65,
    "trailing-newline": "acme\n",
    "space": "ac me",
    "leading-dot": ".acme",
    "leading-dash": "-acme",
    "percent": "acme%2F..",
    "empty": "",
}

# id -> a name the contract accepts
ACCEPTED: dict[str, str] = {
    "plain": "acme",
    "one-character": "a",
    "mixed": "Acme-Health_2.eu",
    "64-characters": "a" * 64,
    "digit-first": "0day",
}
