"""The test S3 server is real: django-storages' S3Storage works against it end to end."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from django.core.files.base import ContentFile
from storages.backends.s3 import S3Storage

from tests.s3server import S3Server

# Loads the fixture once per session, also when tests/conftest.py registers it too.
pytest_plugins = ["tests.s3fixture"]

SIGNATURE_PARAMS = {"Signature", "X-Amz-Signature"}


@pytest.fixture(params=[None, "s3v4"], ids=["default-signature", "sigv4"])
def storage(request: pytest.FixtureRequest, s3_server: S3Server) -> S3Storage:
    """S3Storage configured as studio/settings.py configures it, pointed at the server.

    The studio leaves the signature version to botocore; SigV4 is checked too because
    that is what AWS regions opened since 2014 accept.
    """
    return S3Storage(
        signature_version=request.param,
        bucket_name=s3_server.bucket,
        endpoint_url=s3_server.endpoint_url,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        region_name=s3_server.region,
        default_acl=None,
        querystring_auth=True,
        querystring_expire=300,
        file_overwrite=False,
    )


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET a URL; return (status, body) even for error statuses."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def with_tampered_signature(url: str) -> str:
    parts = urlsplit(url)
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in SIGNATURE_PARAMS:
            value = ("A" if value[0] != "A" else "B") + value[1:]
        query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_settings_name_every_s3_variable_the_studio_reads(s3_server: S3Server) -> None:
    env = s3_server.settings()

    assert set(env) == {
        "S3_BUCKET",
        "S3_ENDPOINT_URL",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "S3_REGION",
    }
    assert env["S3_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_saved_file_reads_back_with_its_size(storage: S3Storage) -> None:
    name = storage.save("stems/kick.txt", ContentFile(b"boom tss " * 100))

    with storage.open(name, "rb") as stored:
        assert stored.read() == b"boom tss " * 100
    assert storage.size(name) == 900
    assert storage.exists(name)


def test_saving_the_same_name_twice_keeps_both(storage: S3Storage) -> None:
    first = storage.save("stems/twice.txt", ContentFile(b"one"))
    second = storage.save("stems/twice.txt", ContentFile(b"two"))

    assert first != second
    with storage.open(first) as one, storage.open(second) as two:
        assert (one.read(), two.read()) == (b"one", b"two")


def test_twelve_mebibyte_file_round_trips(storage: S3Storage) -> None:
    payload = bytes(range(256)) * (12 * 1024 * 1024 // 256)

    name = storage.save("stems/long.bin", ContentFile(payload))

    assert storage.size(name) == 12 * 1024 * 1024
    with storage.open(name, "rb") as stored:
        assert stored.read() == payload


def test_presigned_url_serves_the_bytes(storage: S3Storage) -> None:
    name = storage.save("mixes/song.txt", ContentFile(b"0123456789abcdef"))
    url = storage.url(name, expire=60)

    status, body = fetch(url)

    assert (status, body) == (200, b"0123456789abcdef")
    assert set(dict(parse_qsl(urlsplit(url).query))) & SIGNATURE_PARAMS


def test_presigned_url_honours_range_requests(storage: S3Storage) -> None:
    name = storage.save("mixes/seek.txt", ContentFile(b"0123456789abcdef"))

    status, body = fetch(storage.url(name, expire=60), {"Range": "bytes=4-7"})

    assert (status, body) == (206, b"4567")


def test_expired_presigned_url_is_refused(storage: S3Storage) -> None:
    name = storage.save("mixes/late.txt", ContentFile(b"too late"))
    url = storage.url(name, expire=1)

    time.sleep(2.1)  # the signature carries whole seconds
    status, _ = fetch(url)

    assert status == 403


def test_presigned_url_with_tampered_signature_is_refused(storage: S3Storage) -> None:
    name = storage.save("mixes/forged.txt", ContentFile(b"secret"))
    url = storage.url(name, expire=60)

    status, body = fetch(with_tampered_signature(url))

    assert status == 403
    assert b"secret" not in body


def test_url_without_signature_is_refused(storage: S3Storage, s3_server: S3Server) -> None:
    name = storage.save("mixes/private.txt", ContentFile(b"private"))

    status, _ = fetch(f"{s3_server.endpoint_url}/{s3_server.bucket}/{name}")

    assert status == 403


def test_deleted_file_is_gone(storage: S3Storage) -> None:
    name = storage.save("stems/gone.txt", ContentFile(b"bye"))
    url = storage.url(name, expire=60)

    storage.delete(name)

    assert not storage.exists(name)
    assert fetch(url)[0] == 404
