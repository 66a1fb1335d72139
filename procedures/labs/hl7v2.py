"""HL7 v2 with python-hl7: decode what arrives, read an ORU^R01, write ACKs and
the OML^O21 / ORM^O01 orders. Parsing and escaping are the library's; this module
only says which field means what."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import hl7
from django.utils import timezone

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
OUR_APPLICATION = "CLINIC"
OUR_FACILITY = "CLINIC"
# MSH-18 names (HL7 table 0211) and the Python codecs they mean.
CHARSETS = {
    "": "utf-8",  # not named: we take UTF-8 (ASCII is a subset), refuse anything else
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
}


class Refusal(Exception):
    """The message cannot be taken at all (answered AR with this reason)."""

    def __init__(self, reason: str, *, code: str = "207"):
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass
class Observation:
    code: str
    system: str
    text: str
    alt_code: str
    value_type: str
    values: list[str]
    value_text: str = ""  # a coded value's text (CE/CWE component 2)
    units: str = ""
    flags: str = ""
    sub_id: str = ""
    status: str = ""

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass
class Report:
    """One OBR group (or one DiagnosticReport): the order it answers and its findings."""

    placer_number: str = ""
    filler_number: str = ""
    test_code: str = ""
    status: str = ""  # P, F, C or X (OBR-25); FHIR statuses are mapped onto these
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Inbound:
    control_id: str
    message_type: str
    version: str
    sending_application: str
    sending_facility: str
    mrns: list[str] = field(default_factory=list)
    family_name: str = ""
    given_name: str = ""
    dob: date | None = None
    reports: list[Report] = field(default_factory=list)


def normalise(text: str) -> str:
    """Segments end with CR; labs also send LF or CRLF, and trailing blank lines."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return "\r".join(s for s in text.split("\r") if s.strip())


def decode(raw: bytes) -> str:
    """Bytes to text in the character set MSH-18 names.

    MSH-18 is read from a Latin-1 view first: every byte is one character there,
    so the delimiters sit where they do in any ASCII-compatible encoding.
    """
    view = normalise(raw.decode("latin-1"))
    if not view.startswith("MSH"):
        raise Refusal("message does not start with an MSH segment", code="100")
    try:  # the MSH segment alone: the body is parsed once, after decoding
        charset = str(hl7.parse(view.split("\r", 1)[0]).segment("MSH")[18])
        charset = charset.split("~")[0].strip().upper()
    except (IndexError, KeyError, ValueError):
        charset = ""
    codec = CHARSETS.get(charset)
    if codec is None:
        raise Refusal(f"character set {charset!r} in MSH-18 is not supported", code="203")
    try:
        return normalise(raw.decode(codec))
    except UnicodeDecodeError:
        raise Refusal(
            f"message is not valid {codec}; name its character set in MSH-18", code="203"
        ) from None


class Segment:
    """One segment of a parsed message, read as text (python-hl7 has no types: its
    containers are narrowed to `str` here, values unescaped with the message's
    own delimiters)."""

    def __init__(self, message: Any, segment: Any) -> None:
        self._message, self._segment = message, segment

    @property
    def name(self) -> str:
        return str(self._segment[0])

    def reps(self, field_no: int, component: int = 1) -> list[str]:
        """Every repetition's component `component` of a field, unescaped."""
        try:
            value = self._segment[field_no]
        except IndexError:
            return []
        out = []
        for rep in value if isinstance(value, hl7.Field) else [value]:
            part: object = ""
            if isinstance(rep, hl7.Repetition | hl7.Component):
                with contextlib.suppress(IndexError):
                    part = rep[component - 1]
            elif component == 1:
                part = rep
            text = str(part)
            out.append(str(self._message.unescape(text)) if text else "")
        return out

    def one(self, field_no: int, component: int = 1) -> str:
        values = self.reps(field_no, component)
        return values[0] if values else ""


class Message:
    """A parsed HL7 v2 message: its segments in order (see `Segment`)."""

    def __init__(self, parsed: Any) -> None:
        self._parsed = parsed

    def __iter__(self) -> Iterator[Segment]:
        return (Segment(self._parsed, segment) for segment in self._parsed)

    def segment(self, name: str) -> Segment:
        """The first segment of that name; KeyError when there is none."""
        return Segment(self._parsed, self._parsed.segment(name))


def _date(value: str) -> date | None:
    value = value.strip()[:8]
    try:
        return datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 (a date, no time)
    except ValueError:
        return None


def header(message: Message) -> tuple[str, str, str, str, str]:
    """(control id, type, version, sending application, sending facility)."""
    msh = message.segment("MSH")
    msg_type = "^".join(filter(None, (msh.one(9, 1), msh.one(9, 2))))
    return msh.one(10), msg_type, msh.one(12), msh.one(3), msh.one(4)


def parse(text: str) -> Message:
    try:
        return Message(hl7.parse(text))
    except Exception as exc:  # the library raises several kinds on malformed input
        raise Refusal(f"message cannot be parsed: {exc.__class__.__name__}", code="100") from None


def read_oru(message: Message) -> Inbound:
    """What an ORU^R01 says: who, which orders, which findings, in what state."""
    control_id, msg_type, version, app, facility = header(message)
    inbound = Inbound(control_id, msg_type, version, app, facility)
    current: Report | None = None
    for segment in message:
        name = segment.name
        if name == "PID":
            inbound.mrns = [m for m in segment.reps(3, 1) if m]
            inbound.family_name = segment.one(5, 1)
            inbound.given_name = segment.one(5, 2)
            inbound.dob = _date(segment.one(7))
        elif name == "ORC":
            current = None  # the OBR that follows opens the group
        elif name == "OBR":
            current = Report(
                placer_number=segment.one(2),
                filler_number=segment.one(3),
                test_code=segment.one(4),
                status=segment.one(25).upper()[:1],
            )
            inbound.reports.append(current)
        elif name == "OBX" and current is not None:
            current.observations.append(
                Observation(
                    code=segment.one(3, 1),
                    text=segment.one(3, 2),
                    system=segment.one(3, 3),
                    alt_code=segment.one(3, 4),
                    value_type=segment.one(2),
                    values=[v for v in segment.reps(5, 1) if v != ""],
                    value_text=segment.one(5, 2),
                    units=segment.one(6),
                    flags=segment.one(8).upper(),
                    sub_id=segment.one(4),
                    status=segment.one(11).upper(),
                )
            )
        elif name == "NTE" and current is not None:
            current.notes.append("\n".join(segment.reps(3)))
        # Z-segments and anything else: kept in the raw message, not interpreted.
    return inbound


# --- Writing -------------------------------------------------------------------------


def _ts(moment: datetime | None = None) -> str:
    return (moment or timezone.now()).astimezone(UTC).strftime("%Y%m%d%H%M%S")


_ESCAPER = hl7.parse("MSH|^~\\&|")


def esc(value: object) -> str:
    """Escape a value for an HL7 field (the library's escaping: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\)."""
    return str(_ESCAPER.escape(str(value or "")))


def ack(
    *,
    control_id: str,
    version: str,
    code: str,
    text: str,
    to_application: str = "",
    to_facility: str = "",
    error_code: str = "",
    ack_control_id: str,
) -> str:
    """An original-mode ACK: MSA-1 the code, MSA-3 the reason; an ERR segment for
    AE and AR (v2.5 layout: ERR-3 the HL7 error code, ERR-4 severity, ERR-8 text)."""
    version = version if version in SUPPORTED_VERSIONS else "2.5.1"
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                OUR_APPLICATION,
                OUR_FACILITY,
                esc(to_application),
                esc(to_facility),
                _ts(),
                "",
                "ACK^R01^ACK" if version >= "2.4" else "ACK",
                esc(ack_control_id),
                "P",
                version,
                "",
                "",
                "",
                "",
                "",
                "UNICODE UTF-8",
            ]
        ),
        f"MSA|{code}|{esc(control_id)}|{esc(text[:200])}",
    ]
    if code != "AA":
        segments.append(f"ERR|||{error_code or '207'}^^HL70357|E||||{esc(text[:200])}")
    return "\r".join(segments) + "\r"


@dataclass
class OrderFacts:
    """What an order message carries (built by the outbound service from the rows)."""

    control_id: str
    placer_number: str
    test_code: str
    test_name: str
    loinc: str
    mrn: str
    family_name: str
    given_name: str
    dob: date
    sex: str
    collected_at: datetime | None
    specimen_site: str
    specimen_side: str
    accession: str
    ordering_provider: str
    lab_application: str
    lab_facility: str


def order_message(facts: OrderFacts, *, structure: str) -> str:
    """An HL7 v2.5.1 new order: OML^O21 (with an SPM segment) or ORM^O01."""
    msg_type = "OML^O21^OML_O21" if structure == "OML" else "ORM^O01^ORM_O01"
    collected = _ts(facts.collected_at) if facts.collected_at else ""
    code = f"{esc(facts.test_code)}^{esc(facts.test_name)}^L"
    if facts.loinc:
        code += f"^{esc(facts.loinc)}^^LN"
    # Body site as text (CWE component 2; in ORM's OBR-15, component 4 of the SPS).
    site = esc(", ".join(filter(None, (facts.specimen_site, facts.specimen_side))))
    spm_site = f"^{site}" if site else ""
    obr_source = f"BMA&Bone marrow&HL70487^^^&{site}" if site else "BMA&Bone marrow&HL70487"
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                OUR_APPLICATION,
                OUR_FACILITY,
                esc(facts.lab_application),
                esc(facts.lab_facility),
                _ts(),
                "",
                msg_type,
                esc(facts.control_id),
                "P",
                "2.5.1",
                "",
                "",
                "AL",
                "NE",
                "",
                "UNICODE UTF-8",
            ]
        ),
        f"PID|1||{esc(facts.mrn)}^^^{OUR_FACILITY}^MR||{esc(facts.family_name)}^"
        f"{esc(facts.given_name)}||{facts.dob:%Y%m%d}|{esc(facts.sex)}",
        "PV1|1|O",
        f"ORC|NW|{esc(facts.placer_number)}^{OUR_APPLICATION}|||||||{_ts()}|||"
        f"{esc(facts.ordering_provider)}",
        f"OBR|1|{esc(facts.placer_number)}^{OUR_APPLICATION}|{esc(facts.accession)}|{code}"
        f"|||{collected}||||||||{obr_source if structure == 'ORM' else ''}|"
        f"{esc(facts.ordering_provider)}",
    ]
    if structure == "OML":
        spm = [""] * 18
        spm[0:3] = ["SPM", "1", f"{esc(facts.placer_number)}&{OUR_APPLICATION}"]
        if facts.accession:
            spm[2] += f"^{esc(facts.accession)}"
        spm[4] = "BMA^Bone marrow^HL70487"  # SPM-4 specimen type
        spm[8] = spm_site  # SPM-8 specimen source site
        spm[17] = collected  # SPM-17 collection date/time
        segments.append("|".join(spm))
    text = "\r".join(segments) + "\r"
    hl7.parse(text)  # what we send must parse with the same library that reads it
    return text


def read_ack(raw: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-3) of a lab's ACK."""
    message = parse(normalise(raw.decode("utf-8", errors="replace")))
    try:
        msa = message.segment("MSA")
    except KeyError:
        raise Refusal("the answer has no MSA segment") from None
    return msa.one(1).upper(), msa.one(3)
