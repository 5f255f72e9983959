from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from projects.api import api

handler500 = "studio.failures.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("projects.urls")),
]
