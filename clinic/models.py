from django.db import models


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


class ReadAccess(models.Model):
    """One read of a protected record: who, what, when, from where. Never the data itself."""

    user = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    view_name = models.CharField(max_length=100)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Why this reader may see the record when it is not plainly theirs: "cover"
    # (covering a colleague's results). Empty for ordinary reads.
    basis = models.CharField(max_length=20, blank=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"], name="readaccess_object_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.object_type}:{self.object_id}"


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
