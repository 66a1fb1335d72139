from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clinic.loaded import LoadedValues
from procedures.catalog.choices import SedationLevel
from procedures.catalog.sites import Site, default_site_id


class Provider(models.Model):
    """A physician who performs procedures; linked to their staff login."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider",
    )
    display_name = models.CharField(_("name as shown"), max_length=100, unique=True)
    # Where the physician works: the slot finder offers them only at these sites, and a
    # visit's room must be at one of them.
    sites = models.ManyToManyField(
        Site,
        related_name="providers",
        verbose_name=_("works at"),
        blank=True,
        help_text=_("Leave empty when the physician works at every site."),
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    def site_refusal(self, room: "Room") -> str:
        """Why this physician may not work in `room` (at another site), or "" (one query)."""
        listed = set(self.sites.values_list("pk", flat=True))
        if not listed or room.site_id in listed:
            return ""
        return str(
            _(
                "%(provider)s does not work at the site of %(room)s; choose a room at one of "
                "their sites or another physician."
            )
            % {"provider": self.display_name, "room": room.name}
        )


def staff_name(user: Any) -> str:
    """A staff member as colleagues know them, for "... by Dr Lee" in a message: the
    physician's name as shown, else the login's full name ("someone" for no one)."""
    if user is None:
        return str(_("someone"))
    provider = Provider.objects.filter(user=user).values_list("display_name", flat=True).first()
    return provider or user.get_full_name() or user.get_username()


def works_at(site_id: int | None) -> models.Q:
    """Physicians who work at site `site_id`: those who list it, and those who list no
    site (they work at every site); None: everyone. Subqueries, so a physician of two
    sites is never a duplicate row."""
    if site_id is None:
        return models.Q()
    through = Provider.sites.through.objects
    return models.Q(pk__in=through.filter(site_id=site_id).values("provider_id")) | ~models.Q(
        pk__in=through.values("provider_id")
    )


def narrow_to_site(
    form: Any, site_id: int | None, *, keep: Iterable[Any] = (), also_site_id: int | None = None
) -> None:
    """A booking form's "Physician" and "Room" lists narrowed to site `site_id` (None:
    every site): its physicians (works_at) and its rooms, and those in `keep` (a visit's
    own physician and room, so a form about it never loses them). The lists of a site's
    front desk then hold what it can book: a room at another site with one of its
    physicians would only be refused (invariant 17). `also_site_id`: another site whose
    physicians and rooms are listed too (a visit's own site, when the page is another's)."""
    if site_id is None:
        return
    kept = {type(obj): obj.pk for obj in keep if obj is not None}
    sites = [site_id]
    providers = works_at(site_id)
    if also_site_id is not None and also_site_id != site_id:
        sites.append(also_site_id)
        providers |= works_at(also_site_id)
    for name, here in (("provider", providers), ("room", models.Q(site_id__in=sites))):
        if name not in form.fields:
            continue
        field = form.fields[name]
        own = kept.get(field.queryset.model)
        field.queryset = field.queryset.filter(here | models.Q(pk=own) if own else here)


class Room(LoadedValues):
    # A room moved to another site takes its visits' days out of both sites' roll-ups
    # (procedures/reports/rollup.py).
    tracked_fields = ("site_id",)
    name = models.CharField(max_length=100, unique=True)
    # A room is at one site; without one given, the network's first site (so a
    # single-clinic install, and code written before sites, keep working).
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="rooms",
        default=default_site_id,
        verbose_name=_("site"),
    )
    is_monitored = models.BooleanField(
        _("monitored"),
        default=False,
        help_text=_("Has the monitoring needed for IV sedation or general anaesthesia."),
    )
    procedure_types = models.ManyToManyField(
        "procedures.ProcedureType",
        blank=True,
        related_name="rooms",
        verbose_name=_("procedures done here"),
        help_text=_("Leave empty when any procedure can be done in this room."),
    )
    is_active = models.BooleanField(default=True)

    site_lookup = "site"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def can_host(self, sedation_level: str) -> bool:
        """Whether the room has what this sedation level needs (a stable contract:
        preparation asks it too)."""
        return self.is_monitored or sedation_level not in SedationLevel.needs_monitored_room()

    def can_do(self, procedure_type) -> bool:
        """Whether this procedure may be done here (no list means any procedure).

        Reads `procedure_types.all()`, so prefetch it when asking for many rooms.
        """
        allowed = self.procedure_types.all()
        return not allowed or procedure_type in allowed
