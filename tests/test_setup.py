"""The set-up contract: the demo, the documented settings, the house rules."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from projects.models import Comment, Project, Stem

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.django_db
def test_demo_creates_an_account_and_a_project_with_four_real_stems(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    call_command("demo", quiet=True)
    project = Project.objects.get(owner__username="demo")
    stems = {s.name: s for s in Stem.objects.filter(project=project)}
    assert set(stems) == {"Drums", "Bass", "Keys", "Lead"}
    assert stems["Keys"].format == "FLAC" and stems["Drums"].subtype == "PCM_24"
    assert all(
        s.duration_s == pytest.approx(16 * 4 * 60 / 96 + 1.0, abs=0.1) for s in stems.values()
    )
    assert Comment.objects.filter(project=project, body__contains="A minor at 96 BPM").exists()
    assert (tmp_path / "demo_password").exists()


@pytest.mark.django_db
def test_running_the_demo_again_keeps_everything(tmp_path, settings, capsys):
    settings.DATA_DIR = tmp_path
    call_command("demo")
    password = (tmp_path / "demo_password").read_text().strip()
    call_command("demo")
    assert Project.objects.filter(owner__username="demo").count() == 1
    assert Stem.objects.count() == 4
    assert capsys.readouterr().out.count(password) == 2


def documented_variables() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README))


def test_every_setting_read_from_the_environment_is_documented():
    source = (ROOT / "studio" / "settings.py").read_text()
    used = set(re.findall(r'env_\w+\("([A-Z0-9_]+)"', source))
    used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", (ROOT / "bin" / "run").read_text()))
    used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", (ROOT / "bin" / "test").read_text()))
    assert used and used <= documented_variables(), used - documented_variables()


def test_readme_gives_exactly_two_set_up_commands():
    section = README.split("## Set-up", 1)[1].split("##", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bin/run", "bin/test"]
    assert "bin/test" in (ROOT / ".ci" / "run").read_text()


def test_the_audio_engine_never_imports_django():
    for path in (ROOT / "studio" / "processing").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in {"django", "channels", "projects"} for n in names), (
                f"{path.name} imports {names}"
            )


@pytest.mark.skipif(
    os.environ.get("STUDIO_REQUIRE_SERVICES") != "1", reason="only in the services pass"
)
def test_services_pass_really_runs_on_postgresql_and_redis():
    assert connection.vendor == "postgresql"
    assert "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]
