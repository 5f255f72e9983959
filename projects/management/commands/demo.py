"""Create the demo account and a demo project with synthesised stems, once.

Run by the README's start command on every start: the first run makes the account
(with a random password kept in the data folder) and the project; later runs only
print how to log in, so everything people made is kept.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from projects import services
from projects.models import Project
from studio.processing import decode, synth

DEMO_USERNAME = "demo"
DEMO_PROJECT = "Demo song: Night Drive"

# Each demo stem in a different format, to show what the studio takes.
DEMO_FILES = {
    "drums": ("Drums.wav", "WAV", "PCM_24"),
    "bass": ("Bass.wav", "WAV", "PCM_16"),
    "keys": ("Keys.flac", "FLAC", "PCM_24"),
    "lead": ("Lead.wav", "WAV", "FLOAT"),
}


class Command(BaseCommand):
    help = "Create the demo account and demo project on first start; print how to log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="print nothing")

    def handle(self, *args: Any, quiet: bool = False, **options: Any) -> None:
        if not settings.STUDIO_DEMO:
            return
        password_file = Path(settings.DATA_DIR) / "demo_password"
        user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            password = secrets.token_urlsafe(9)
            user = get_user_model().objects.create_user(
                username=DEMO_USERNAME, email="demo@studio.invalid", password=password
            )
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.make_project(user)
        if not quiet:
            self.say_how_to_log_in(password_file)

    def make_project(self, user: Any) -> Project:
        project = services.project_create(user=user, name=DEMO_PROJECT)
        song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=96.0, n_bars=16, seed=7)
        stems = synth.render_stems(song, sample_rate=44100)
        with tempfile.TemporaryDirectory() as folder:
            for part, (name, file_format, subtype) in DEMO_FILES.items():
                path = Path(folder) / name
                decode.write(
                    path, stems[part], sample_rate=44100, format=file_format, subtype=subtype
                )
                upload = services.Upload(
                    path=path, original_name=name, size_bytes=path.stat().st_size
                )
                services.stem_upload(user=user, project_id=project.pk, upload=upload)
        services.comment_post(
            user=user,
            project_id=project.pk,
            body=f"A demo song in {song.key_name} at {song.tempo_bpm:g} BPM, synthesised "
            "by the studio. Upload your own stems in a new project.",
        )
        return project

    def say_how_to_log_in(self, password_file: Path) -> None:
        if password_file.exists():
            password = password_file.read_text().strip()
            self.stdout.write(
                f"Demo account: username '{DEMO_USERNAME}', password '{password}' "
                f"(kept in {password_file})."
            )
        self.stdout.write("Or sign up for your own account at /signup/.")
