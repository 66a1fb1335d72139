"""The reports' daily roll-up (procedures/reports/rollup.py): one row per site and
clinic day once the day is over, with that day's figures."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from procedures.catalog.sites import Site


class ReportDay(models.Model):
    """A site's day, counted once it was over: what the operations dashboard and the
    turnaround page would count for it, so that a period reads a row a day instead of
    every visit and result. A change to one of the day's visits or results deletes the
    row (the day is then counted live until it is rolled up again)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="report_days")
    day = models.DateField(_("clinic day"))
    # The zone the day was counted in (the site's): a page in another zone (the
    # network's, on "All sites") counts such a day live.
    time_zone = models.CharField(max_length=64)
    # `rollup.VisitFacts` and the turnaround pairs, as JSON (rollup.py reads them).
    visits = models.JSONField(default=dict)
    turnaround = models.JSONField(default=list)
    rolled_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "day"], name="reportday_one_per_site_day")
        ]
        verbose_name = _("report day")

    def __str__(self) -> str:
        return f"{self.site_id} {self.day}"
