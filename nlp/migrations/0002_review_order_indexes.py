"""The labels list filtered by label or by status walks one index in review order instead of sorting."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("nlp", "0001_initial")]

    operations = [
        migrations.RemoveIndex(model_name="minedlabel", name="minedlabel_label_status"),
        migrations.AddIndex(
            model_name="minedlabel",
            index=models.Index(fields=["run", "label", "-priority", "id"], name="minedlabel_label_order"),
        ),
        migrations.AddIndex(
            model_name="minedlabel",
            index=models.Index(fields=["run", "status", "-priority", "id"], name="minedlabel_status_order"),
        ),
    ]
