"""The collaborative domain: projects, the people in them, their stems and the event log."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    COMMENTER = "commenter", "Commenter"
    VIEWER = "viewer", "Viewer"


# What each role may do; a role includes everything of the roles below it.
ROLE_RANK = {Role.VIEWER: 0, Role.COMMENTER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class Project(models.Model):
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The sequence number of the newest event; bumped under a row lock.
    last_seq = models.PositiveBigIntegerField(default=0)
    # studio.processing.mixing.MixSettings as a dict; stems keyed by their id.
    mix_settings = models.JSONField(default=dict)
    mix_revision = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_person")
        ]
        ordering = ["added_at"]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role} in {self.project_id}"

    def can(self, role: str) -> bool:
        """True when this member's role includes ``role``."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


def stem_upload_to(stem: Stem, filename: str) -> str:
    return f"projects/{stem.project_id}/stems/{stem.checksum[:16]}/{filename}"


class Stem(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stems")
    name = models.CharField(max_length=200)
    original_name = models.CharField(max_length=200)
    file = models.FileField(upload_to=stem_upload_to, max_length=400)
    format = models.CharField(max_length=16)
    subtype = models.CharField(max_length=32)
    sample_rate = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    frames = models.PositiveBigIntegerField()
    duration_s = models.FloatField()
    size_bytes = models.PositiveBigIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the original file, hex")
    position = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "checksum"], name="one_copy_of_a_stem")
        ]

    def __str__(self) -> str:
        return self.name


class Comment(models.Model):
    """A remark in a project's discussion, optionally about one stem at a time in it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    stem = models.ForeignKey(
        Stem, on_delete=models.SET_NULL, null=True, blank=True, related_name="comments"
    )
    at_s = models.FloatField(null=True, blank=True)
    end_s = models.FloatField(null=True, blank=True)
    version = models.ForeignKey(
        "MixVersion", on_delete=models.CASCADE, null=True, blank=True, related_name="comments"
    )
    suggestion = models.ForeignKey(
        "Suggestion", on_delete=models.CASCADE, null=True, blank=True, related_name="comments"
    )
    idea = models.ForeignKey(
        "Idea", on_delete=models.CASCADE, null=True, blank=True, related_name="comments"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


class Event(models.Model):
    """One change that people in a project should see, in the order it happened."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "seq"]
        constraints = [models.UniqueConstraint(fields=["project", "seq"], name="one_event_per_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class ApiToken(models.Model):
    """A token for the JSON API. Only a hash is kept; the key is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


MIX_TARGET = "mix"


class Analysis(models.Model):
    """The engine's report on one stem or on the project's mix, and the job that makes it.

    ``target`` is ``stem:<id>`` or ``mix``; ``input_key`` says what the report was made
    from (the stem's checksum, or the checksums of every stem for the mix) so a job
    whose input changed while it ran is not taken for current.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="analyses")
    stem = models.OneToOneField(
        Stem, on_delete=models.CASCADE, null=True, blank=True, related_name="analysis"
    )
    target = models.CharField(max_length=32)
    input_key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=80, blank=True)
    summary = models.JSONField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)
    # The suggestion phase that follows a finished analysis: a job of its own, so that
    # changed mix settings can ask for fresh suggestions without a new analysis.
    suggest_status = models.CharField(max_length=16, choices=JobStatus.choices, blank=True)
    suggest_key = models.CharField(max_length=64, blank=True)
    suggest_error = models.TextField(blank=True)
    suggest_worker = models.CharField(max_length=80, blank=True)
    masking = models.JSONField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "target"], name="one_analysis_per_target")
        ]
        indexes = [models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"{self.target} {self.status}"


class SuggestionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class Suggestion(models.Model):
    """A mixing move the engine proposed, its measured effect, and what people decided.

    ``scope`` is the analysis it came from (``stem:<id>`` or ``mix``); ``fingerprint`` names
    the problem (rule, stems, place), so a re-analysis that finds it again updates this row
    instead of adding a copy, and one that no longer finds it marks it superseded.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="suggestions")
    scope = models.CharField(max_length=32)
    fingerprint = models.CharField(max_length=32)
    kind = models.CharField(max_length=16)
    code = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    reason = models.TextField()
    stems = models.ManyToManyField(Stem, related_name="suggestions", blank=True)
    move = models.JSONField(default=list)
    measure = models.JSONField(default=dict)
    detail = models.JSONField(default=dict)
    preview_spec = models.JSONField(null=True, blank=True)
    confidence = models.FloatField()
    status = models.CharField(
        max_length=16, choices=SuggestionStatus.choices, default=SuggestionStatus.PROPOSED
    )
    amount = models.PositiveSmallIntegerField(default=100, help_text="percent of the move")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The preview: a job of its own (queued by a person, rendered by a worker).
    preview_status = models.CharField(max_length=16, choices=JobStatus.choices, blank=True)
    preview_amount = models.PositiveSmallIntegerField(default=100)
    preview_files = models.JSONField(null=True, blank=True)
    preview_error = models.TextField(blank=True)
    preview_worker = models.CharField(max_length=80, blank=True)
    preview_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "fingerprint"], name="one_suggestion_per_problem"
            )
        ]
        indexes = [models.Index(fields=["preview_status", "preview_queued_at"])]

    def __str__(self) -> str:
        return self.title


class MixChange(models.Model):
    """One change of a project's mix settings: by hand, by accepting a suggestion, or an undo.

    ``before`` and ``after`` are whole ``MixSettings`` dicts, so any change can be undone and
    every version of the mix can say where each of its settings came from.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="mix_changes")
    revision = models.PositiveIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    suggestion = models.ForeignKey(
        Suggestion, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes"
    )
    action = models.CharField(max_length=16)  # accept, edit, undo
    summary = models.CharField(max_length=300)
    before = models.JSONField()
    after = models.JSONField()
    undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["revision"]
        constraints = [
            models.UniqueConstraint(fields=["project", "revision"], name="one_change_per_revision")
        ]

    def __str__(self) -> str:
        return f"r{self.revision} {self.summary}"


class MixVersion(models.Model):
    """A numbered render of the project's mix (v1, v2, ...) and the job that makes it.

    ``manifest`` is the snapshot it is rendered from and answers for: the stems by checksum,
    the mix settings, and where each setting came from (an engine suggestion and the person
    who accepted it, or a person's hand). ``files`` maps a format to its stored file.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    notes = models.TextField(blank=True, max_length=4000)
    formats = models.JSONField(default=list)
    manifest = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=80, blank=True)
    files = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="one_version_per_number")
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"v{self.number} {self.name}"


class ShareLink(models.Model):
    """A link that lets someone without an account hear chosen versions and give feedback.

    Only a hash of its token is kept (the link is shown once, when made); a password, when
    set, is hashed like an account's. Wrong passwords are counted and slow the link down.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shares")
    label = models.CharField(max_length=120)
    token_hash = models.CharField(max_length=64, unique=True)
    versions = models.ManyToManyField(MixVersion, related_name="shares")
    password_hash = models.CharField(max_length=256, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    allow_download = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class ClientComment(models.Model):
    """A remark on a shared version, at a time or over a time range, by the client (a name,
    no account) or by a member of the team answering them (``author``)."""

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="comments")
    version = models.ForeignKey(
        MixVersion, on_delete=models.CASCADE, related_name="client_comments"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    client_name = models.CharField(max_length=80, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at_s = models.FloatField(null=True, blank=True)
    end_s = models.FloatField(null=True, blank=True)
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


class ClientDecision(models.Model):
    """A client's approval of one exact version, or a request for changes: an audit trail."""

    APPROVE = "approve"
    CHANGES = "changes"

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="decisions")
    version = models.ForeignKey(MixVersion, on_delete=models.CASCADE, related_name="decisions")
    client_name = models.CharField(max_length=80)
    decision = models.CharField(max_length=16)
    note = models.TextField(blank=True, max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.client_name} {self.decision} v{self.version.number}"


class ShareListen(models.Model):
    """Someone listened to a shared version: once per browser session and version."""

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="listens")
    version = models.ForeignKey(MixVersion, on_delete=models.CASCADE, related_name="listens")
    session_hash = models.CharField(max_length=64)
    client_name = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["share", "version", "session_hash"], name="one_listen_per_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_name or 'someone'} heard v{self.version.number}"


class ListeningSession(models.Model):
    """People of a project listening to one version together: one transport for all.

    The row holds the transport's last state (playing or not, where, when) so that someone
    who joins late, or reconnects, starts in step; the moves themselves travel live.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sessions")
    version = models.ForeignKey(MixVersion, on_delete=models.CASCADE, related_name="sessions")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    playing = models.BooleanField(default=False)
    position_s = models.FloatField(default=0.0)
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "ended_at"])]

    def __str__(self) -> str:
        return f"together on v{self.version.number}"


class IdeaDecision(models.TextChoices):
    OPEN = "open", "Open"
    KEPT = "kept", "Kept"
    DISCARDED = "discarded", "Discarded"


class Idea(models.Model):
    """An arrangement idea the engine generated because a person asked for one.

    The request (``kind``, ``section``, ``options``, ``seed``) is enough to generate the
    same idea again from the same analysis of the mix (``based_on``); a variation is a new
    row with another seed and ``parent`` set. The job that generates and renders it lives
    on the row like a render's. ``content`` is studio.processing.ideas.Idea as a dict;
    ``files`` the audition audio (``with_song``, ``alone``). Everything here is
    AI-generated; people decide whether to keep it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ideas")
    kind = models.CharField(max_length=16)
    section = models.PositiveSmallIntegerField(null=True, blank=True)
    section_label = models.CharField(max_length=40, blank=True)
    options = models.JSONField(default=dict)
    seed = models.PositiveIntegerField()
    based_on = models.CharField(max_length=64, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="variations"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=80, blank=True)
    title = models.CharField(max_length=200, blank=True)
    reasoning = models.TextField(blank=True)
    content = models.JSONField(null=True, blank=True)
    files = models.JSONField(default=dict)
    decision = models.CharField(
        max_length=16, choices=IdeaDecision.choices, default=IdeaDecision.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return self.title or f"{self.kind} idea"


class WorkerBeat(models.Model):
    """A process that runs jobs (a server with worker threads, or a queue worker), alive
    while it beats. A running job whose process stopped beating goes back in the queue."""

    name = models.CharField(max_length=120, unique=True)  # host:pid
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
