"""The job table is a queue: every job is updated twice (claim, end), and claims scan the fair-order
index from its front, where the dead entries of claimed jobs gather. Left to the default autovacuum
(20 % of the table changed) the claim slows down as finished jobs accumulate (measured: 254 → 176
jobs/s per process over four rounds of 2,000, steady at ~230 with a vacuum between rounds). Vacuum it
after every few thousand changes, without cost-based pauses."""

from django.db import migrations

SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000, "
    "autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.02"
)


class Migration(migrations.Migration):
    dependencies = [("orchestration", "0004_claims_fair_shares_cancel")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE orchestration_job SET ({SETTINGS})",
            reverse_sql="ALTER TABLE orchestration_job RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay, autovacuum_analyze_scale_factor)",
        ),
    ]
