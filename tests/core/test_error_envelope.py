"""Errors Django raises before or around a view (too many files, a body over the limit, an exception that
escaped a view) answer in the `{"error": …}` envelope, without a traceback."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import path

from config.urls import urlpatterns as project_urls


def _boom(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [path("boom", _boom), *project_urls]


def _files(count: int) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(count)]


@pytest.mark.django_db
def test_too_many_files_is_400_in_the_envelope(settings, admin_client):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    response = admin_client.post("/api/workflow-runs", {"template": "x", "files": _files(4)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_files"


@pytest.mark.django_db
def test_a_multipart_field_over_the_memory_limit_is_413(settings, admin_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = admin_client.post("/api/workflow-runs", {"template": "x" * 5000, "files": _files(1)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.django_db
@pytest.mark.urls("tests.core.test_error_envelope")
@pytest.mark.parametrize("debug", [False, True])
def test_an_exception_in_a_view_is_a_500_envelope_without_its_text(settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}
    assert b"secret internal detail" not in response.content


@pytest.mark.django_db
def test_a_wrong_method_keeps_its_allow_header(admin_client):
    response = admin_client.delete("/api/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
