from datetime import timedelta

import factory
from django.utils import timezone

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.models import ProcedureType, TestType
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import Site
from procedures.messaging.models import Reminder
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment


class TestTypeFactory(factory.django.DjangoModelFactory):
    __test__ = False  # not a pytest class

    class Meta:
        model = TestType
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"test-{n}")
    name = factory.Sequence(lambda n: f"Test {n}")
    lab = "Haematology lab"
    turnaround_target_days = 2
    turnaround_max_days = 5


class ProcedureTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcedureType
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = "bm-biopsy"
    name = "Bone marrow aspiration and biopsy"
    default_duration_minutes = 60
    default_sedation_level = SedationLevel.IV_MODERATE

    @factory.post_generation
    def default_tests(self, create, extracted, **kwargs):
        if create and extracted:
            self.default_tests.set(extracted)


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"site-{n}")
    name = factory.Sequence(lambda n: f"Satellite clinic {n}")
    address = factory.Sequence(lambda n: f"{n} Satellite Street, Leeds")
    phone = "0113 496 0000"
    time_zone = "Europe/London"


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    display_name = factory.Sequence(lambda n: f"Dr Lee {n}")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    name = factory.Sequence(lambda n: f"Procedure room {n}")
    is_monitored = True


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    procedure_type = factory.SubFactory(ProcedureTypeFactory)
    provider = factory.SubFactory(ProviderFactory)
    room = factory.SubFactory(RoomFactory)
    start_at = factory.LazyFunction(
        lambda: (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    )
    end_at = factory.LazyAttribute(lambda a: a.start_at + timedelta(hours=1))
    sedation_level = SedationLevel.IV_MODERATE


class TestOrderFactory(factory.django.DjangoModelFactory):
    __test__ = False  # not a pytest class

    class Meta:
        model = TestOrder

    appointment = factory.SubFactory(AppointmentFactory, status=Appointment.Status.COMPLETED)
    site = factory.SelfAttribute("appointment.room.site")  # as placing the order sets it
    test_type = factory.SubFactory(TestTypeFactory)
    status = TestOrder.Status.COLLECTED
    collected_at = factory.LazyFunction(timezone.now)
    expected_by = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=2))
    responsible = factory.SelfAttribute("appointment.provider")


class ReminderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reminder

    appointment = factory.SubFactory(AppointmentFactory)
    kind = Reminder.Kind.BOOKING_CONFIRMATION
    due_at = factory.LazyFunction(timezone.now)
