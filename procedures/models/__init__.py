from procedures.labs.models import Lab, LabInboundMessage, LabOrderMessage, LabResultData  # noqa: F401 (labs, #17)

from .appointments import Appointment, AppointmentEvent, SedationLevel, TransportMode
from .availability import Unavailability, WorkingHours
from .catalog import ClinicHoliday, ProcedureType, TestType
from .escalations import ResultCoverage, ResultEscalation
from .prep import (
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
from .reminders import CallTask, EmailOptOut, PatientLinkUse, Reminder, ReminderPolicy
from .resources import Provider, Room
from .results import TestOrder, TestOrderEvent, TestResult
from .waitlist import WaitlistEntry

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
    "MedicationClassRule",
    "MedicationHold",
    "PatientLinkUse",
    "PrepPlan",
    "PrepTemplate",
    "ProcedureType",
    "Provider",
    "Reminder",
    "ReminderPolicy",
    "ResultCoverage",
    "ResultEscalation",
    "Room",
    "SedationLevel",
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
