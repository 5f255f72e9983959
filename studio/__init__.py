"""The studio's Django project. The job queue's Celery app is loaded with it, so that
a request that queues work can send its message (see studio/celery.py)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
