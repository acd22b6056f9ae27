from django.db import models


class CampaignSettings(models.Model):
    """Runtime switches for the campaigns app: one row (pk=1), edited in the admin or the API."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    auto_resume_on_restart = models.BooleanField(
        default=True, help_text="After a restart, resume phases that were in progress (paused ones stay paused)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "campaign settings"
        constraints = [models.CheckConstraint(name="campaign_settings_singleton", condition=models.Q(id=1))]

    def __str__(self) -> str:
        return "Campaign settings"
