"""What a scripted browser reads off a page (.ci/smoke.py, the make-run smoke test):
inputs, selects, table rows, links, static files and <code> texts; and the demo
clinic's booking form, filled in."""

from datetime import date, timedelta
from html.parser import HTMLParser


class Page(HTMLParser):
    """Inputs, selects, table rows, static and local links and <code> texts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.selects: dict[str, dict[str, str]] = {}
        self.rows: list[list[str]] = []
        self.assets: set[str] = set()
        self.links: set[str] = set()
        self.codes: list[str] = []
        self._select: str | None = None
        self._option: str | None = None
        self._text = ""
        self._row: list[str] | None = None
        self._cell: str | None = None
        self._code: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.inputs[values["name"] or ""] = values.get("value") or ""
        elif tag == "select":
            self._select = values.get("name") or ""
            self.selects.setdefault(self._select, {})
        elif tag == "option" and self._select is not None:
            self._option, self._text = values.get("value") or "", ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "code":
            self._code = ""
        for name in ("href", "src"):
            value = values.get(name) or ""
            if "/static/" in value:
                self.assets.add(value)
            elif tag == "a" and name == "href" and value.startswith("/"):
                self.links.add(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._select is not None and self._option is not None:
            self.selects[self._select][self._text.strip()] = self._option
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "code" and self._code is not None:
            self.codes.append(self._code.strip())
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._text += data
        if self._cell is not None:
            self._cell += data
        if self._code is not None:
            self._code += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def next_weekday(start: date) -> date:
    while start.weekday() >= 5:
        start += timedelta(days=1)
    return start


def demo_booking(form: Page, *, mrn: str, day: date, start_time: str) -> dict[str, str]:
    """The booking form (`form`, as read from /appointments/book/) filled in for a
    demo patient: an aspiration with Dr Adeyemi in procedure room 2, no sedation."""
    return {
        "csrfmiddlewaretoken": form.inputs["csrfmiddlewaretoken"],
        "patient_mrn": mrn,
        "procedure_type": form.selects["procedure_type"]["Bone marrow aspiration"],
        "provider": form.selects["provider"]["Dr Adeyemi"],
        "room": form.selects["room"]["Procedure room 2"],
        "date": day.isoformat(),
        "start_time": start_time,
        "end_time": "",
        "sedation_level": "none",
        "transport_mode": "self",
        "escort_name": "",
        "escort_phone": "",
        "notes": "",
    }
