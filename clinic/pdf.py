"""Is an uploaded file a PDF we are willing to keep and hand to staff's browsers?

Parsed with pypdf, not judged by its first bytes: a file that pypdf cannot read,
that is encrypted (nobody could open it later, and it hides its content), or that
carries JavaScript or launch actions (run by some viewers on opening) is refused,
with a message saying which.
"""

from typing import IO

from django.utils.translation import gettext as _
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

ACTIVE_KEYS = {"/JS", "/JavaScript", "/Launch", "/EmbeddedFile", "/RichMedia"}
ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/RichMediaExecute"}
MAX_OBJECTS = 50_000  # a bound on the walk: more is refused as unreadable


def _unreadable() -> str:
    return _("This PDF could not be read. Ask the lab for the report again.")


class PdfRefused(ValueError):
    """The file is not a PDF we keep; the message says why, in the user's words."""


def _active(root) -> bool:
    """Whether any object reachable from `root` holds script or a launch action."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    walked = 0
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        walked += 1
        if walked > MAX_OBJECTS:
            raise PdfRefused(_unreadable())
        if isinstance(item, DictionaryObject):
            if ACTIVE_KEYS & set(item.keys()):
                return True
            if item.get("/S") in ACTIVE_ACTIONS:
                return True
            stack.extend(item.values())
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return False


def pdf_check(upload: IO[bytes]) -> None:
    """Raise PdfRefused unless `upload` is a readable, unencrypted PDF without scripts."""
    upload.seek(0)
    try:
        reader = PdfReader(upload, strict=False)
        if reader.is_encrypted:
            raise PdfRefused(_("This PDF is password-protected. Upload a copy without a password."))
        if len(reader.pages) < 1:
            raise PdfRefused(_("This PDF has no pages. Ask the lab for the report again."))
        if _active(reader.trailer):
            raise PdfRefused(
                _(
                    "This PDF contains scripts or actions, which the clinic does not keep. "
                    "Ask the lab for a plain copy of the report."
                )
            )
    except PdfRefused:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PdfRefused(
            _("This file could not be read as a PDF. Upload the lab's report as a PDF.")
        ) from exc
    except RecursionError as exc:
        raise PdfRefused(
            _("This PDF could not be read. Ask the lab for the report again.")
        ) from exc
    finally:
        upload.seek(0)
