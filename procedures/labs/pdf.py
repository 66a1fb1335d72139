"""Specimen labels and the lab requisition, as PDF (reportlab, with its own
Code 128 barcode). The barcode carries the order number (our placer number) or,
once the lab gave one, the accession number: never a name."""

from datetime import datetime
from io import BytesIO

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics.barcode import code128
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from procedures.results.models import TestOrder

LABEL_SIZE = (62 * mm, 29 * mm)  # a common specimen-label roll


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%d %b %Y %H:%M") if moment else "—"


def barcode_value(order: TestOrder) -> str:
    return order.accession_number or f"ORD{order.pk}"


def labels_pdf(orders: list[TestOrder]) -> bytes:
    """One label per order: barcode, patient name, date of birth, MRN, specimen,
    collected at, test."""
    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=LABEL_SIZE)
    pdf.setTitle(_("Specimen labels"))
    height = LABEL_SIZE[1]
    for order in orders:
        patient = order.appointment.patient
        value = barcode_value(order)
        barcode = code128.Code128(value, barHeight=8 * mm, barWidth=0.28 * mm, humanReadable=False)
        barcode.drawOn(pdf, 2 * mm, height - 10 * mm)
        pdf.setFont("Helvetica-Bold", 7)
        pdf.drawString(3 * mm, height - 13 * mm, value)
        pdf.drawString(
            3 * mm, height - 16.5 * mm, f"{patient.family_name.upper()}, {patient.given_name}"
        )
        pdf.setFont("Helvetica", 6)
        pdf.drawString(
            3 * mm,
            height - 19.5 * mm,
            f"{_('DOB')} {patient.date_of_birth:%d %b %Y}  {_('MRN')} {patient.mrn}",
        )
        specimen = " ".join(
            filter(None, (order.get_specimen_site_display(), order.get_specimen_side_display()))
        )
        pdf.drawString(3 * mm, height - 22.5 * mm, f"{order.test_type.name} · {specimen or '—'}")
        pdf.drawString(3 * mm, height - 25.5 * mm, f"{_('Collected')} {_when(order.collected_at)}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def requisition_pdf(orders: list[TestOrder]) -> bytes:
    """The lab requisition for one sample: patient, referrer, specimen, every test."""
    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(_("Lab requisition"))
    width, height = A4
    first = orders[0]
    appointment, patient = first.appointment, first.appointment.patient
    y = height - 25 * mm
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(20 * mm, y, _("Laboratory requisition"))
    barcode = code128.Code128(f"APT{appointment.pk}", barHeight=12 * mm, barWidth=0.4 * mm)
    barcode.drawOn(pdf, width - 80 * mm, y - 6 * mm)
    pdf.setFont("Helvetica", 10)
    rows = [
        (_("Patient"), f"{patient.family_name.upper()}, {patient.given_name}"),
        (_("Date of birth"), f"{patient.date_of_birth:%d %b %Y}"),
        (_("MRN"), patient.mrn),
        (_("Procedure"), str(appointment.procedure_type)),
        (_("Requesting physician"), str(first.responsible or "—")),
        (
            _("Specimen"),
            " ".join(
                filter(None, (first.get_specimen_site_display(), first.get_specimen_side_display()))
            )
            or "—",
        ),
        (_("Collected at"), _when(first.collected_at)),
    ]
    y -= 20 * mm
    for label, value in rows:
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawString(20 * mm, y, label)
        pdf.setFont("Helvetica", 10)
        pdf.drawString(70 * mm, y, value)
        y -= 6 * mm
    y -= 6 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(20 * mm, y, _("Tests requested"))
    y -= 8 * mm
    pdf.setFont("Helvetica", 10)
    for order in orders:
        code = getattr(order.test_type, "lab_code", None)
        pdf.drawString(
            20 * mm,
            y,
            f"{_('Order')} {order.pk}  {order.test_type.name}"
            + (f"  ({code.code})" if code else "")
            + (f"  {_('accession')} {order.accession_number}" if order.accession_number else ""),
        )
        line = code128.Code128(barcode_value(order), barHeight=6 * mm, barWidth=0.3 * mm)
        line.drawOn(pdf, width - 75 * mm, y - 2 * mm)
        y -= 10 * mm
        if y < 30 * mm:
            pdf.showPage()
            y = height - 25 * mm
    pdf.save()
    return buffer.getvalue()
