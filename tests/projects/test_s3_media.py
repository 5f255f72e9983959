"""Files in a real S3 server (Ceph's RADOS Gateway on loopback): stems, analyses and
renders live in the bucket, and every file leaves through a checked door as a redirect to
a signed URL that the storage server itself refuses after STUDIO_SIGNED_URL_SECONDS."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from projects import jobs, services, sharing, tasks, versions
from projects.models import Analysis, JobStatus
from studio.settings import s3_storage
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.s3fixture"]  # the session's S3 server: fixture s3_server


@pytest.fixture
def s3(s3_server, settings):
    """The project's files go to the bucket for this test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket=s3_server.bucket,
            endpoint_url=s3_server.endpoint_url,
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
            region=s3_server.region,
        ),
    }
    return s3_server


def fetch(url: str, **headers: str) -> tuple[int, dict, bytes]:
    """GET ``url`` straight from the storage server, as a browser following a redirect."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def signed_location(response, s3) -> str:
    assert response.status_code == 302, response.content[:300]
    assert response["Cache-Control"] == "no-store"
    location = response["Location"]
    assert location.startswith(s3.endpoint_url + "/")
    return location


@pytest.fixture
def stem(s3, project, alice, audio_file):
    path = audio_file("bass take 3.wav", duration_s=2.0, frequency_hz=110.0)
    stem = services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
    return stem, path.read_bytes()


def test_a_stem_is_kept_in_the_bucket_and_downloads_by_a_short_lived_signed_url(
    s3, stem, alice, settings
):
    stem, original = stem
    assert default_storage.exists(stem.file.name)
    assert not stem.file.name.startswith("/")
    browser = Client()
    browser.force_login(alice)
    response = browser.get(f"/projects/{stem.project_id}/stems/{stem.pk}/download/")
    location = signed_location(response, s3)
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == [str(settings.STUDIO_SIGNED_URL_SECONDS)]
    assert "X-Amz-Signature" in query
    status, headers, body = fetch(location)
    assert status == 200 and body == original
    assert headers["Content-Type"] == "audio/x-wav" or headers["Content-Type"] == "audio/wav"
    assert "attachment" in headers["Content-Disposition"]
    assert "bass take 3.wav" in headers["Content-Disposition"]
    status, _, part = fetch(location, Range="bytes=100-199")
    assert status == 206 and part == original[100:200]


def test_the_bucket_is_private_and_a_signature_cannot_be_reused_for_another_file(s3, stem):
    stem, _ = stem
    plain = f"{s3.endpoint_url}/{s3.bucket}/{stem.file.name}"
    assert fetch(plain)[0] == 403
    signed = default_storage.url(stem.file.name, expire=60)
    other = signed.replace(stem.file.name.rsplit("/", 1)[-1], "other.wav")
    assert fetch(other)[0] == 403


def test_nobody_outside_the_project_gets_a_url(s3, stem, mallory):
    stem, _ = stem
    browser = Client()
    browser.force_login(mallory)
    response = browser.get(f"/projects/{stem.project_id}/stems/{stem.pk}/download/")
    assert response.status_code == 404 and "Location" not in response
    assert Client().get(f"/projects/{stem.project_id}/stems/{stem.pk}/download/").status_code in (
        302,
        401,
        403,
    )  # anonymous: to the sign-in page, never to storage
    anonymous = Client().get(f"/projects/{stem.project_id}/stems/{stem.pk}/download/")
    assert s3.endpoint_url not in anonymous.get("Location", "")


def test_a_signed_url_stops_working_when_it_expires(s3, stem, alice, settings):
    stem, original = stem
    # Long enough to be fetched at once on a busy machine (the signature's clock counts
    # whole seconds), short enough to wait out.
    settings.STUDIO_SIGNED_URL_SECONDS = 4
    browser = Client()
    browser.force_login(alice)
    location = signed_location(
        browser.get(f"/projects/{stem.project_id}/stems/{stem.pk}/download/"), s3
    )
    assert fetch(location)[2] == original
    time.sleep(5.5)
    assert fetch(location)[0] == 403
    again = browser.get(f"/projects/{stem.project_id}/stems/{stem.pk}/download/")
    fresh = signed_location(again, s3)
    assert fetch(fresh)[2] == original  # the door signs again for someone still allowed


def test_analysis_render_and_client_listening_all_work_from_the_bucket(s3, stem, project, alice):
    stem, _ = stem
    jobs.run_next()  # the stem's analysis reads its file from the bucket
    analysis = Analysis.objects.get(stem=stem)
    assert analysis.status == JobStatus.DONE, analysis.error
    version = versions.version_create(
        user=alice, project_id=project.pk, name="First", formats=["mp3"]
    )
    tasks.run_render(versions.version_claim(worker="test"))
    version.refresh_from_db()
    assert default_storage.exists(version.files["mp3"])
    link, token = sharing.share_create(
        user=alice, project_id=project.pk, label="Carol", version_ids=[version.pk]
    )
    carol = Client()
    assert carol.get(f"/s/{token}/").status_code == 200
    listen = carol.get(f"/s/{token}/versions/{version.pk}/listen/")
    status, headers, body = fetch(signed_location(listen, s3))
    assert status == 200 and headers["Content-Type"] == "audio/mpeg"
    assert body[:3] == b"ID3" or body[:2] == b"\xff\xfb"
    no_download = carol.get(f"/s/{token}/versions/{version.pk}/download/mp3/")
    assert no_download.status_code == 404 and "Location" not in no_download
    sharing.share_revoke(user=alice, project_id=project.pk, share_id=link.pk)
    revoked = carol.get(f"/s/{token}/versions/{version.pk}/listen/")
    assert revoked.status_code == 410 and "Location" not in revoked
