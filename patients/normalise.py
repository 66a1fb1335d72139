"""Text folding for finding people: case, accents, apostrophes, hyphens and word order.

The same function builds the stored `Patient.search_name` and reads a search term,
so PostgreSQL and SQLite compare the same plain words (no `unaccent` needed).
"""

import re
import unicodedata

# Letters that Unicode does not decompose into a base letter and an accent.
_SPECIAL = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower-case ASCII words: "O'Brien-Núñez, Zoë" -> "obrien nunez zoe"."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_SPECIAL)
    # An apostrophe joins (O'Brien is one name); anything else separates words.
    text = _APOSTROPHES.sub("", text)
    return " ".join(_NOT_WORD.sub(" ", text).split())


def search_name(given_name: str, family_name: str) -> str:
    """What a name search compares: the folded words, and a multi-word last name
    once more run together, so "obrien" finds "O Brien" and "vanderberg" finds
    "van der Berg"."""
    words = fold(f"{given_name} {family_name}")
    family = fold(family_name)
    if " " in family:
        words += " " + family.replace(" ", "")
    return words


def search_family(family_name: str) -> str:
    """The folded family name, its words run together ("O'Brien-Núñez" -> "obriennunez"),
    for the short-term search: "ob" and "o" find it."""
    return fold(family_name).replace(" ", "")


def phone_key(phone: str) -> str:
    """The last nine digits of a phone number: 07700 900123 and +44 7700 900123 agree."""
    return "".join(ch for ch in phone or "" if ch.isdigit())[-9:]
