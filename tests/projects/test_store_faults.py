"""The file store failing in the middle of an upload: the person gets a clear error,
no stem row and no file remain, and a retry works (a real S3 server behind a proxy that
cuts the connection part-way through the file)."""

from __future__ import annotations

import boto3
import pytest
from django.test import Client

from projects.models import Event, Stem
from studio.settings import s3_storage
from tests.faultproxy import proxy_to

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.s3fixture"]


def objects_in(server) -> list[str]:
    """Every object key in the bucket, asked of the server directly (not the proxy)."""
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
    )
    listed = client.list_objects_v2(Bucket=server.bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_store_failing_mid_upload_keeps_nothing_and_a_retry_works(
    s3_server, settings, project, alice, audio_file
):
    host, port = s3_server.endpoint_url.removeprefix("http://").split(":")
    before = set(objects_in(s3_server))
    with proxy_to(host, int(port)) as proxy:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": s3_storage(
                bucket=s3_server.bucket,
                endpoint_url=f"http://127.0.0.1:{proxy.port}",
                access_key=s3_server.access_key,
                secret_key=s3_server.secret_key,
                region=s3_server.region,
            ),
        }
        path = audio_file("take 7.wav", duration_s=20.0)  # 3.5 MB
        browser = Client()
        browser.force_login(alice)
        url = f"/projects/{project.pk}/stems/"

        proxy.cut_after(500_000)  # the store goes away half a megabyte into the file
        with open(path, "rb") as handle:
            failed = browser.post(url, {"file": handle}, HTTP_ACCEPT="application/json")
        assert failed.status_code == 503
        error = failed.json()["error"]
        assert error["code"] == "unavailable" and "take 7.wav" in error["message"]
        assert "nothing was added" in error["message"]
        assert proxy.cuts == 1
        assert not Stem.objects.exists()
        assert not Event.objects.filter(type="stem.created").exists()
        assert set(objects_in(s3_server)) == before

        proxy.restore()
        with open(path, "rb") as handle:
            retried = browser.post(url, {"file": handle}, HTTP_ACCEPT="application/json")
        assert retried.status_code == 201, retried.content
        stem = Stem.objects.get()
        assert set(objects_in(s3_server)) == before | {stem.file.name}
