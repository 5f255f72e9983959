"""Analyses of MP3 stems, and the mix of every project that has one, are done again.

Until the decoder read MP3 files straight on (studio.processing.decode), every block of
an MP3 after the first began with about 60 ms of silence, so their loudness, hygiene,
role, rhythm and the mix's figures were measured on audio with holes in it. Queued rows
are taken up by the job runners (the embedded one and the queue workers alike).
"""

from django.db import migrations
from django.db.models import Q


def analyse_mp3_again(apps, schema_editor):
    Analysis = apps.get_model("projects", "Analysis")
    Stem = apps.get_model("projects", "Stem")
    with_mp3 = Stem.objects.filter(format="MP3").values("project_id")
    Analysis.objects.filter(
        Q(stem__format="MP3") | Q(target="mix", project_id__in=with_mp3), status="done"
    ).update(
        status="queued",
        progress=0.0,
        attempts=0,
        error="",
        worker="",
        started_at=None,
        finished_at=None,
    )


class Migration(migrations.Migration):
    dependencies = [("projects", "0008_workers")]

    operations = [migrations.RunPython(analyse_mp3_again, migrations.RunPython.noop)]
