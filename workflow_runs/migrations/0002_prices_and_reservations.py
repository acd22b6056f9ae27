"""Prices move from templates to the platform's price list; runs snapshot price, processor and config;
the ledger's amounts become positive with the reason saying which way they moved.

Existing data: every built-in processor gets a default price of 1, and every processor a template uses
the highest price any template asked for it (at least 1); every run snapshots its template's price,
processor and config; historic `charge` rows (negative) become positive; accounts learn what was
captured (charges minus refunds) and granted (what is left plus what was captured)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


BUILTIN_PROCESSORS = ("text_stats", "json_validate", "csv_validate", "webhook")


def forwards(apps, schema_editor):
    Template = apps.get_model("workflow_runs", "Template")
    ProcessorPrice = apps.get_model("workflow_runs", "ProcessorPrice")
    WorkflowRun = apps.get_model("workflow_runs", "WorkflowRun")
    CreditAccount = apps.get_model("workflow_runs", "CreditAccount")
    CreditLedgerEntry = apps.get_model("workflow_runs", "CreditLedgerEntry")

    # The built-in processors start at 1 credit per file (a platform admin changes it in /api/prices).
    prices: dict[str, int] = dict.fromkeys(BUILTIN_PROCESSORS, 1)
    for processor, price in Template.objects.values_list("processor", "credits_per_run"):
        prices[processor] = max(prices.get(processor, 1), price or 1)
    ProcessorPrice.objects.bulk_create(
        [ProcessorPrice(processor=processor, plan="", credits_per_file=price) for processor, price in prices.items()]
    )
    for template in Template.objects.all():
        WorkflowRun.objects.filter(template_id=template.pk).update(
            unit_price=max(template.credits_per_run, 1),
            processor=template.processor,
            processor_config=template.processor_config,
        )
    CreditLedgerEntry.objects.filter(amount__lt=0).update(amount=-models.F("amount"))
    for account in CreditAccount.objects.all():
        entries = CreditLedgerEntry.objects.filter(tenant_id=account.pk)
        charged = sum(entries.filter(reason="charge").values_list("amount", flat=True))
        refunded = sum(entries.filter(reason="refund").values_list("amount", flat=True))
        account.captured_balance = max(charged - refunded, 0)
        account.granted_balance = account.monthly_balance + account.purchased_balance + account.captured_balance
        account.save(update_fields=["captured_balance", "granted_balance"])


class Migration(migrations.Migration):
    dependencies = [
        ("workflow_runs", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ProcessorPrice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("processor", models.CharField(max_length=64)),
                ("plan", models.CharField(blank=True, default="", max_length=32)),
                ("credits_per_file", models.BigIntegerField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["processor", "plan"]},
        ),
        migrations.RemoveConstraint(model_name="creditledgerentry", name="credit_entry_not_zero"),
        migrations.RemoveConstraint(model_name="creditledgerentry", name="credit_entry_sign_matches_reason"),
        migrations.AddField(
            model_name="creditaccount",
            name="captured_balance",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="granted_balance",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="reserved_balance",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="workflowrun",
            name="unit_price",
            field=models.BigIntegerField(default=1, help_text="Credits per file, from the price list at start."),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workflowrun",
            name="processor",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workflowrun",
            name="processor_config",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RemoveField(model_name="template", name="credits_per_run"),
    ]
