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
