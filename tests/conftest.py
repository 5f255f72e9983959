"""Shared fixtures: the personas, their project, and real audio files made on the spot.

alice owns the project, bob collaborates, carol comments, victor views, and mallory
is an outsider who must learn nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings as django_settings

from projects import services
from projects.models import Role

PASSWORD = "correct horse battery staple 7"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true"}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with the sessions that socket code opened on its pool
    of database threads ended before it is dropped: they outlive their tests, and the
    database was left behind ("being accessed by other users")."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def media_dir(settings, tmp_path: Path) -> Path:
    """Every test stores files in its own folder, so it can see exactly what is left.

    Static URLs come straight from the source folders, so pages render without a
    collectstatic manifest.
    """
    media = tmp_path / "media"
    media.mkdir()
    settings.STORAGES = {
        **django_settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return media


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


@pytest.fixture
def make_user(django_user_model) -> Callable[..., object]:
    def make(username: str) -> object:
        return django_user_model.objects.create_user(
            username=username, email=f"{username}@example.org", password=PASSWORD
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def victor(make_user):
    return make_user("victor")


@pytest.fixture
def mallory(make_user):
    return make_user("mallory")


@pytest.fixture
def project(alice, bob, carol, victor):
    """alice's project with bob as editor, carol as commenter and victor as viewer."""
    made = services.project_create(user=alice, name="Night Drive")
    for person, role in ((bob, Role.EDITOR), (carol, Role.COMMENTER), (victor, Role.VIEWER)):
        services.member_invite(user=alice, project_id=made.pk, who=person.username, role=role)
    made.refresh_from_db()
    return made


def sine(
    *,
    frequency_hz: float = 440.0,
    duration_s: float = 1.0,
    sample_rate: int = 44100,
    channels: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """A sine with a little seeded noise, shaped (n_samples, channels) for soundfile."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * frequency_hz * t)
    noise = np.random.default_rng(seed).normal(0, 1e-3, (t.size, channels))
    return (tone[:, None] + noise).astype(np.float32)


@pytest.fixture
def audio_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a real audio file: audio_file("kick.wav", subtype="PCM_24", seed=3)."""

    def write(
        name: str = "tone.wav",
        *,
        format: str | None = None,
        subtype: str | None = None,
        sample_rate: int = 44100,
        channels: int = 2,
        duration_s: float = 1.0,
        frequency_hz: float = 440.0,
        seed: int = 0,
    ) -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        signal = sine(
            frequency_hz=frequency_hz,
            duration_s=duration_s,
            sample_rate=sample_rate,
            channels=channels,
            seed=seed,
        )
        sf.write(path, signal, sample_rate, format=format, subtype=subtype)
        return path

    return write


def upload_of(path: Path, name: str | None = None) -> services.Upload:
    return services.Upload(
        path=path, original_name=name or path.name, size_bytes=path.stat().st_size
    )
