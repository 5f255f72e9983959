from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from . import client_views, views


class IdConverter:
    """A row id in a URL: up to 18 digits, so that it fits a 64-bit id column; a longer
    number is no page (404) rather than a query the database refuses."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<id:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/<id:project_id>/", views.project_room, name="project_room"),
    path("projects/<id:project_id>/rename/", views.project_rename, name="project_rename"),
    path("projects/<id:project_id>/delete/", views.project_delete, name="project_delete"),
    path("projects/<id:project_id>/members/", views.member_invite, name="member_invite"),
    path(
        "projects/<id:project_id>/members/<id:user_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "projects/<id:project_id>/members/<id:user_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("projects/<id:project_id>/stems/", views.stem_upload, name="stem_upload"),
    path("projects/<id:project_id>/stems/order/", views.stem_order, name="stem_order"),
    path(
        "projects/<id:project_id>/stems/<id:stem_id>/rename/",
        views.stem_rename,
        name="stem_rename",
    ),
    path("projects/<id:project_id>/stems/<id:stem_id>/move/", views.stem_move, name="stem_move"),
    path(
        "projects/<id:project_id>/stems/<id:stem_id>/delete/",
        views.stem_delete,
        name="stem_delete",
    ),
    path(
        "projects/<id:project_id>/stems/<id:stem_id>/download/",
        views.stem_download,
        name="stem_download",
    ),
    path("projects/<id:project_id>/comments/", views.comment_post, name="comment_post"),
    path(
        "projects/<id:project_id>/analyses/<id:analysis_id>/",
        views.analysis_detail,
        name="analysis_detail",
    ),
    path(
        "projects/<id:project_id>/analyses/<id:analysis_id>/retry/",
        views.analysis_retry,
        name="analysis_retry",
    ),
    path("projects/<id:project_id>/ideas/", views.idea_request, name="idea_request"),
    path(
        "projects/<id:project_id>/ideas/<id:idea_id>/regenerate/",
        views.idea_regenerate,
        name="idea_regenerate",
    ),
    path(
        "projects/<id:project_id>/ideas/<id:idea_id>/decide/",
        views.idea_decide,
        name="idea_decide",
    ),
    path(
        "projects/<id:project_id>/ideas/<id:idea_id>/audio/<str:which>/",
        views.idea_audio,
        name="idea_audio",
    ),
    path(
        "projects/<id:project_id>/ideas/<id:idea_id>/midi/",
        views.idea_midi,
        name="idea_midi",
    ),
    path(
        "projects/<id:project_id>/suggestions/<id:suggestion_id>/decide/",
        views.suggestion_decide,
        name="suggestion_decide",
    ),
    path(
        "projects/<id:project_id>/suggestions/<id:suggestion_id>/preview/",
        views.suggestion_preview,
        name="suggestion_preview",
    ),
    path(
        "projects/<id:project_id>/suggestions/<id:suggestion_id>/preview/<str:which>/",
        views.suggestion_preview_file,
        name="suggestion_preview_file",
    ),
    path("projects/<id:project_id>/mix/", views.mix_detail, name="mix_detail"),
    path("projects/<id:project_id>/shares/", views.share_create, name="share_create"),
    path(
        "projects/<id:project_id>/shares/<id:share_id>/revoke/",
        views.share_revoke,
        name="share_revoke",
    ),
    path(
        "projects/<id:project_id>/shares/<id:share_id>/versions/",
        views.share_add_versions,
        name="share_add_versions",
    ),
    path(
        "projects/<id:project_id>/client-comments/<id:comment_id>/reply/",
        views.client_reply,
        name="client_reply",
    ),
    path("s/<str:token>/", client_views.share_page, name="share_page"),
    path("s/<str:token>/unlock/", client_views.share_unlock, name="share_unlock"),
    path("s/<str:token>/feed/", client_views.share_feed, name="share_feed"),
    path("s/<str:token>/name/", client_views.share_name, name="share_name"),
    path("s/<str:token>/comments/", client_views.share_comment, name="share_comment"),
    path("s/<str:token>/decisions/", client_views.share_decide, name="share_decide"),
    path(
        "s/<str:token>/versions/<id:version_id>/listen/",
        client_views.share_listen,
        name="share_listen",
    ),
    path(
        "s/<str:token>/versions/<id:version_id>/peaks/",
        client_views.share_peaks,
        name="share_peaks",
    ),
    path(
        "s/<str:token>/versions/<id:version_id>/download/<str:fmt>/",
        client_views.share_download,
        name="share_download",
    ),
    path("projects/<id:project_id>/versions/", views.version_create, name="version_create"),
    path(
        "projects/<id:project_id>/versions/<id:version_id>/",
        views.version_detail,
        name="version_detail",
    ),
    path(
        "projects/<id:project_id>/versions/<id:version_id>/retry/",
        views.version_retry,
        name="version_retry",
    ),
    path(
        "projects/<id:project_id>/versions/<id:version_id>/listen/",
        views.version_listen,
        name="version_listen",
    ),
    path(
        "projects/<id:project_id>/versions/<id:version_id>/download/<str:fmt>/",
        views.version_download,
        name="version_download",
    ),
    path(
        "projects/<id:project_id>/versions/<id:version_id>/manifest/",
        views.version_manifest,
        name="version_manifest",
    ),
    path("projects/<id:project_id>/mix/bus/", views.mix_bus, name="mix_bus"),
    path("projects/<id:project_id>/mix/undo/", views.mix_undo, name="mix_undo"),
    path("projects/<id:project_id>/mix/stems/<id:stem_id>/", views.mix_stem, name="mix_stem"),
]
