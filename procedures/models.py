"""Every model of the `procedures` app, for Django's app registry.

Each concern keeps its models in its own package (catalog, scheduling, prep,
messaging, results); this module only gathers them so Django finds them when it
loads the app. Code imports a model from its concern's module, never from here:
this module sits above every concern (import-linter keeps it so).
"""

from procedures.catalog.choices import (
    ProcedureKind,
    ProcedureSide,
    ProcedureSite,
    SedationLevel,
    TransportMode,
)
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday, ProcedureType, TestType
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import Site, StaffProfile
from procedures.labs.models import (
    Lab,
    LabInboundMessage,
    LabOrderMessage,
    LabResultData,
    LabTestCode,
)
from procedures.messaging.models import (
    CallTask,
    EmailOptOut,
    PatientLinkUse,
    Reminder,
    ReminderPolicy,
)
from procedures.prep.models import (
    ChecklistItem,
    ChecklistTick,
    ClinicalOverride,
    FrontDeskTask,
    MedicationClassRule,
    MedicationHold,
    PrepPlan,
    PrepTemplate,
    StepKind,
)
from procedures.reports.models import ReportDay
from procedures.results.models import (
    NoSampleReason,
    ResultCoverage,
    ResultEscalation,
    TestOrder,
    TestOrderEvent,
    TestResult,
)
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.today.models import OpenLoopsDay

__all__ = [
    "Appointment",
    "AppointmentEvent",
    "CallTask",
    "ChecklistItem",
    "ChecklistTick",
    "ClinicHoliday",
    "ClinicalOverride",
    "EmailOptOut",
    "FrontDeskTask",
    "Lab",
    "LabInboundMessage",
    "LabOrderMessage",
    "LabResultData",
    "LabTestCode",
    "MedicationClassRule",
    "MedicationHold",
    "NoSampleReason",
    "OpenLoopsDay",
    "PatientLinkUse",
    "PrepPlan",
    "PrepTemplate",
    "ProcedureKind",
    "ProcedureSide",
    "ProcedureSite",
    "ProcedureType",
    "Provider",
    "Reminder",
    "ReminderPolicy",
    "ReportDay",
    "ResultCoverage",
    "ResultEscalation",
    "Room",
    "SedationLevel",
    "Site",
    "StaffProfile",
    "StepKind",
    "TestOrder",
    "TestOrderEvent",
    "TestResult",
    "TestType",
    "TransportMode",
    "Unavailability",
    "WaitlistEntry",
    "WorkingHours",
]
