#!/bin/sh
# The image's build steps, in one place: the Dockerfile runs this script, and the
# production smoke test (.ci/smoke.py, run by .ci/run) runs it too, so CI builds
# the static files exactly as the image does.
#
# Static files are collected with the production storage (DEBUG off: whitenoise's
# CompressedManifestStaticFilesStorage, hashed names and a manifest), the storage
# the container serves them with. Collecting with DEBUG on would write no manifest,
# and every page would then fail with "Missing staticfiles manifest entry".
# The settings refuse to load with DEBUG off without a real SECRET_KEY and
# ALLOWED_HOSTS; nothing here uses them, so build-only values stand in.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

unset STATICFILES_STORAGE
export DEBUG=0
export SECRET_KEY="${BUILD_SECRET_KEY:-build-only-key-not-used-at-runtime-0123456789abcdefghijklmnop}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-build.invalid}"

"$PYTHON" manage.py collectstatic --noinput --clear --verbosity 1
# The manifest must name what the templates ask for (the error the image once had).
"$PYTHON" - <<'PY'
import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
django.setup()
from django.core.files.storage import storages  # noqa: E402

staticfiles_storage = storages["staticfiles"]
assert "Manifest" in type(staticfiles_storage).__name__, type(staticfiles_storage)
for name in ("js-lib-bootstrap5/css/bootstrap.min.css", "css/clinic.css"):
    print(name, "->", staticfiles_storage.url(name))
print("static files in", settings.STATIC_ROOT)
PY
