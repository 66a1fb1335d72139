"""What the image and compose run: secure by default, one build script, one
gunicorn configuration (Dockerfile, docker-compose.yml, deploy/)."""

import re

from ruamel.yaml import YAML

from tests.conftest import ROOT


def compose() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def default_of(value: str) -> str:
    """The default in a compose interpolation like ${NAME:-default}."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def test_compose_turns_https_redirect_and_secure_cookies_on_by_default():
    env = compose()["x-app"]["environment"]

    assert default_of(env["SECURE_SSL_REDIRECT"]) == "1"
    assert default_of(env["SECURE_COOKIES"]) == "1"
    assert env["DEBUG"] == "0"
    assert env["CACHE_URL"].startswith("redis://")


def test_the_image_and_compose_share_the_build_script_and_gunicorn_config():
    dockerfile = (ROOT / "Dockerfile").read_text()
    web = compose()["services"]["web"]["command"]

    assert "RUN sh deploy/build.sh" in dockerfile
    assert "collectstatic" not in dockerfile  # only in the script CI runs too
    assert "deploy/gunicorn.conf.py" in dockerfile
    assert "deploy/gunicorn.conf.py" in web
    assert "--access-logfile" not in web  # the config's redacting access log, not another


def test_ci_runs_the_production_smoke_test_after_the_suite():
    run = (ROOT / ".ci" / "run").read_text()

    assert run.index("make test") < run.index(".ci/smoke.py")


def test_the_readme_says_how_to_run_compose_over_plain_http_on_localhost():
    readme = (ROOT / "README.md").read_text()

    assert "SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 docker compose up" in readme


def test_compose_sees_the_client_behind_its_proxy_and_only_the_proxy_reaches_the_app():
    """Without a proxy setting every client shares the proxy's address, and one
    person's wrong passwords counted against the whole clinic (QA pass 2, #1). A
    proxy count is safe only while nothing but the proxy reaches the app."""
    env = compose()["x-app"]["environment"]
    web = compose()["services"]["web"]

    assert default_of(env["CLINIC_PROXY_COUNT"]) == "1"
    assert web["ports"] == ["127.0.0.1:8000:8000"]
