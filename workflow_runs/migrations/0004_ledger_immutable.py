"""The ledger is append-only in the database itself: UPDATE and DELETE of a ledger row are refused (by
any code, the admin or a console), and an account that has ledger rows cannot be deleted. TRUNCATE is
not a row operation and stays possible for test databases."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION workflow_runs_ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit ledger entries are immutable (% refused on entry %)', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER workflow_runs_ledger_immutable
BEFORE UPDATE OR DELETE ON workflow_runs_creditledgerentry
FOR EACH ROW EXECUTE FUNCTION workflow_runs_ledger_refuse_change();

CREATE FUNCTION workflow_runs_account_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM workflow_runs_creditledgerentry WHERE tenant_id = OLD.tenant_id) THEN
        RAISE EXCEPTION 'credit account % has ledger entries and cannot be deleted', OLD.tenant_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER workflow_runs_account_keep_with_entries
BEFORE DELETE ON workflow_runs_creditaccount
FOR EACH ROW EXECUTE FUNCTION workflow_runs_account_refuse_delete();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS workflow_runs_account_keep_with_entries ON workflow_runs_creditaccount;
DROP FUNCTION IF EXISTS workflow_runs_account_refuse_delete();
DROP TRIGGER IF EXISTS workflow_runs_ledger_immutable ON workflow_runs_creditledgerentry;
DROP FUNCTION IF EXISTS workflow_runs_ledger_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("workflow_runs", "0003_integrity")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
