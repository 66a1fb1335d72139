"""Production settings refuse to start unsafe, pass Django's deploy checks, and every
response carries the security headers (CSP without inline scripts, frame denial,
referrer policy)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL_KEY = "k" * 20 + "-production-key-" + "z" * 30
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": REAL_KEY,
    "ALLOWED_HOSTS": "clinic.example",
    "SITE_URL": "https://clinic.example",
    "CLINIC_OTP_REQUIRED_ROLES": "physician,clinic_admin",
    "CACHE_URL": "redis://127.0.0.1:6379/1",  # checks do not connect
    "RESULTS_CLINIC_LEAD_EMAILS": "lead@clinic.example",
}


def run_django(tmp_path, env: dict, *args: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "EMAIL_URL",
            "CACHE_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",  # the test runner's, never production's
        )
    }
    clean |= {"CLINIC_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_refuses_to_start_without_a_real_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}

    result = run_django(tmp_path, env, "check")

    assert result.returncode != 0
    assert "set SECRET_KEY to a random string of at least 50 characters" in result.stderr


def test_it_refuses_a_short_secret_key(tmp_path):
    result = run_django(tmp_path, {**PRODUCTION, "SECRET_KEY": "short"}, "check")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}

    result = run_django(tmp_path, env, "check")

    assert result.returncode != 0
    assert "set ALLOWED_HOSTS" in result.stderr


def test_it_passes_the_deploy_checks_with_production_settings(tmp_path):
    result = run_django(tmp_path, PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_checks_want_a_shared_cache_for_the_rate_limits(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "CACHE_URL"}

    # An error, not a warning: it fails at the default level too.
    result = run_django(tmp_path, env, "check", "--deploy")

    assert result.returncode != 0
    assert "clinic.E001" in result.stderr
    assert "Set CACHE_URL to a shared cache" in result.stderr


@pytest.mark.django_db
def test_it_sends_the_security_headers(client):
    response = client.get("/accounts/login/")

    csp = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_it_keeps_the_outbox_views_own_sandbox_policy(client, frontdesk_user, settings, tmp_path):
    from django.core.mail import EmailMultiAlternatives

    settings.DEBUG = True
    settings.EMAIL_BACKEND = "clinic.mail.LocalOutboxBackend"
    settings.CLINIC_OUTBOX_DIR = tmp_path
    message = EmailMultiAlternatives("Hello", "Body", to=["p@example.com"])
    message.attach_alternative("<p>Hello</p>", "text/html")
    message.send()
    name = next(tmp_path.glob("*.eml")).name
    client.force_login(frontdesk_user)

    response = client.get(f"/outbox/{name}/html/")

    assert response["Content-Security-Policy"].startswith("sandbox; default-src 'none'")


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def test_it_has_no_inline_script_or_style_in_any_page_template():
    """The CSP refuses them, so a page that had one would break in the browser."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        if "emails" in path.parts:
            continue  # emails are read in mail clients (and the sandboxed outbox view)
        text = path.read_text()
        text = re.sub(r"{#.*?#}", "", text)
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("event handler", EVENT_HANDLER),
            ("style attribute", STYLE_ATTRIBUTE),
        ):
            for match in pattern.finditer(text):
                if 'type="application/json"' in match.group(0):
                    continue  # data, not code (json_script)
                offenders.append(f"{path.relative_to(ROOT)}: {name}: {match.group(0)[:80]}")
    assert offenders == []
