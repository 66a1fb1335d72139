from django.db import connections, models

from .migration_ops import ContainmentIndex


class Heartbeat(models.Model):
    """When a periodic job last finished a run; /healthz reads it."""

    name = models.CharField(max_length=64, unique=True)
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_run_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, name: str) -> None:
        from django.utils import timezone

        cls.objects.update_or_create(name=name, defaults={"last_run_at": timezone.now()})


class ReadAccessQuerySet(models.QuerySet):
    def naming(self, object_id) -> "ReadAccessQuerySet":
        """Reads that saw the record with this id: its own page's reads, and the lists
        (a search, a board, a calendar) that showed it among others."""
        object_id = str(object_id)
        if connections[self.db].vendor == "postgresql":
            listed = models.Q(object_ids__contains=[object_id])  # jsonb @>, GIN-indexed
        else:
            # SQLite (a single machine's install) has no JSON containment: the list's
            # text holds each id in quotes.
            listed = models.Q(object_ids__icontains=f'"{object_id}"')
        return self.filter(models.Q(object_id=object_id) | listed)

    def of_record(self, object_type: str, object_id) -> "ReadAccessQuerySet":
        """Who read this record (e.g. a patient), from any page: "who has seen X?"."""
        return self.filter(object_type=object_type).naming(object_id)


class ReadAccess(models.Model):
    """One read of a protected record, or of a page listing several of one type: who,
    what, when, from where. Never the data itself."""

    user = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=64)
    # The record read; empty for a list, whose records are in `object_ids`.
    object_id = models.CharField(max_length=64, blank=True)
    # A list's records (a page of a search, a board, a calendar), by id: one row per
    # page shown, however many it lists (docs/security.md, "Reads of lists").
    object_ids = models.JSONField(default=list, blank=True)
    view_name = models.CharField(max_length=100)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Why this reader may see the record when it is not plainly theirs: "cover"
    # (covering a colleague's results). Empty for ordinary reads.
    basis = models.CharField(max_length=20, blank=True)

    objects = ReadAccessQuerySet.as_manager()

    class Meta:
        # Django's default plural would be "read accesss".
        verbose_name = "read access"
        verbose_name_plural = "read accesses"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="readaccess_object_idx"),
            # "Which lists showed record X?": the lists' ids, searched by containment.
            # No GIN pending list (see TrigramIndex): a list page's row goes into the
            # index at once (65 µs for 50 ids, against 27 µs into the pending list), and
            # no page view pays for merging up to 4 MB of pending rows, nor any audit
            # query for reading them one by one.
            ContainmentIndex(
                fields=["object_ids"], name="readaccess_object_ids_idx", fastupdate=False
            ),
        ]

    def __str__(self) -> str:
        if self.object_ids:
            return f"{self.user_id} read {len(self.object_ids)} {self.object_type} in a list"
        return f"{self.user_id} read {self.object_type}:{self.object_id}"

    @property
    def records(self) -> list[str]:
        """The ids of the records this read saw: one, or a list's."""
        return list(self.object_ids) if self.object_ids else [self.object_id]


class EmergencyAccess(models.Model):
    """A physician opened a record outside their own patients, with the reason given.

    Granted for a limited time (CLINIC_EMERGENCY_ACCESS_HOURS); each grant is
    reported to the clinic admins. The record is named by type and id only.
    """

    user = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    reason = models.TextField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "emergency accesses"
        indexes = [
            models.Index(
                fields=["user", "object_type", "object_id"], name="emergency_user_object_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} emergency access {self.object_type}:{self.object_id}"
