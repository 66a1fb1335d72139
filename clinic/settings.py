"""Settings for clinic, driven entirely by the environment (django-environ).

Without any variables set, the embedded defaults apply: SQLite and a filesystem
Celery broker under var/, and outgoing mail kept as .eml files under var/ and
listed at /outbox/. DATABASE_URL, CELERY_BROKER_URL and EMAIL_URL switch to
PostgreSQL, Redis and SMTP.
"""

import datetime
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("CLINIC_VAR_DIR", default=str(BASE_DIR / "var")))

# Development and tests run with a key that is known to be public; production
# must bring its own.
_DEV_SECRET_KEY = "insecure-dev-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "DEBUG is off: set SECRET_KEY to a random string of at least 50 characters."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
if not DEBUG and not env.list("ALLOWED_HOSTS", default=[]):
    raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS to the site's host names.")
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, with a site that only clinic admins may open.
    "clinic.admin_apps.ClinicAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "js_lib_bootstrap5",
    "axes",
    "auditlog",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "clinic",
    "patients",
    "procedures",
    # Development tooling (seed_demo, seed_scale, benchmarks): commands only, no models.
    "procedures.devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check, which reads the form: over-large uploads stop here.
    "clinic.uploads.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # django-auditlog's, with the client's address from clinic/client_ip.py.
    "clinic.client_ip.AuditlogMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "clinic.sessions.SessionLimitsMiddleware",
    "clinic.two_factor.TwoFactorMiddleware",
    # The current site's time zone for the page (after the session and the user).
    "procedures.catalog.middleware.SiteTimeZoneMiddleware",
    # Last, so that it sees the final answer of the views above.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context_processors.clinic",
            ],
        },
    },
]

WSGI_APPLICATION = "clinic.wsgi.application"

# --- Database -----------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the Celery worker share the file: IMMEDIATE takes the
    # write lock at BEGIN, so a check-then-insert (no double booking) cannot
    # interleave with another writer, and WAL lets readers carry on meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # SQLite has no covering indexes: Django makes the one PostgreSQL reads a site's
    # turnaround from (testorder_site_final_idx) without its included columns there.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Reports (the operations dashboard) read from `replica`: a streaming replica of the
# primary where REPLICA_DATABASE_URL names one, else the primary itself. Tests mirror
# `default`. clinic.db_routers sends every write to `default` (docs/operations.md).
_REPLICA_URL = env.str("REPLICA_DATABASE_URL", default="")
DATABASES["replica"] = env.db_url_config(_REPLICA_URL) if _REPLICA_URL else {**DATABASES["default"]}
if DATABASES["replica"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["replica"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["clinic.db_routers.ReportingRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# The login lockout (clinic/login_lockout.py). Two counts within the cool-off: a
# username from one address locks that username there after CLINIC_LOGIN_FAILURE_LIMIT
# wrong passwords (a guesser locks themselves, never a colleague at the next desk nor
# a named colleague everywhere); an address whatever the usernames (password
# spraying) locks after CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT, far more, since a whole
# clinic may share one address. The address is the client's, behind the TLS proxy
# too (clinic/client_ip.py). A clinic admin unlocks in the admin (Access attempts);
# `manage.py axes_reset` when nobody can log in (docs/security.md).
CLINIC_LOGIN_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
AXES_FAILURE_LIMIT = "clinic.login_lockout.failure_limit"
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_CLIENT_IP_CALLABLE = "clinic.client_ip.client_ip"
# Not axes' reset, which forgets every failure from the address: a good log-in forgets
# only the person's own (clinic.login_lockout.forget_own_failures).
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "clinic.login_lockout.locked_out"
AXES_VERBOSE = False

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# The clinic's own page for a refused form, not Django's bare one (clinic/views.py).
CSRF_FAILURE_VIEW = "clinic.views.csrf_failure"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# The client's address behind a TLS proxy (clinic/client_ip.py): the proxies' own
# addresses or networks (safest), or how many proxies stand in front of the app.
# Without either, X-Forwarded-For is ignored.
CLINIC_TRUSTED_PROXIES = env.list("CLINIC_TRUSTED_PROXIES", default=[])
CLINIC_PROXY_COUNT = env.int("CLINIC_PROXY_COUNT", default=0)
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Security of protected health information (see docs/security.md) -------------
# Sessions end after this much inactivity (the page warns WARNING seconds before),
# and in any case this long after login.
CLINIC_SESSION_IDLE_SECONDS = env.int("CLINIC_SESSION_IDLE_SECONDS", default=15 * 60)
CLINIC_SESSION_WARNING_SECONDS = env.int("CLINIC_SESSION_WARNING_SECONDS", default=2 * 60)
CLINIC_SESSION_ABSOLUTE_SECONDS = env.int("CLINIC_SESSION_ABSOLUTE_SECONDS", default=10 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Roles that must use two-factor codes (TOTP); anyone may opt in.
CLINIC_OTP_REQUIRED_ROLES = env.list("CLINIC_OTP_REQUIRED_ROLES", default=[])
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Clinic")
# Emergency access to a record outside one's own patients lasts this long.
CLINIC_EMERGENCY_ACCESS_HOURS = env.int("CLINIC_EMERGENCY_ACCESS_HOURS", default=8)
CLINIC_CARE_RELATIONSHIP = "procedures.results.access.treats_patient"
# No inline scripts or styles anywhere; the outbox's HTML view sets its own sandbox.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Internationalisation and time -----------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date format on every page ("14 Mar 1965"), from the clinic's locale.
FORMAT_MODULE_PATH = ["clinic.formats"]
USE_I18N = True
USE_TZ = True
# All dates shown to people and all "N days before" arithmetic use the clinic's
# zone; the database still stores UTC (USE_TZ).
CLINIC_TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="Europe/London")
# Public holidays skipped when counting working days (results' expected_by), from the
# `holidays` package: an ISO country code and, optionally, its subdivision (GB: ENG, SCT,
# WLS, NIR). Empty country: none (clinic closures typed in the admin still count).
CLINIC_HOLIDAYS_COUNTRY = env.str("CLINIC_HOLIDAYS_COUNTRY", default="GB")
CLINIC_HOLIDAYS_SUBDIVISION = env.str("CLINIC_HOLIDAYS_SUBDIVISION", default="ENG")
# patients (which imports no procedures) tells the domain that a patient's email address
# or email preference changed: planned emails become calls, or emails again.
PATIENTS_CONTACT_CHANGED = "procedures.workflows.contacts.patient_contact_changed"
# ... that two records were merged (or a merge undone), in the merge's transaction: the
# visits' hold plans that no longer decide every medicine go back to the physician, and
# their emails follow (invariant 32); and, before it, what the admin should be warned of.
PATIENTS_MERGED = "procedures.workflows.merges.patient_records_merged"
PATIENTS_MERGE_WARNINGS = "procedures.workflows.merges.merge_warnings"
TIME_ZONE = CLINIC_TIME_ZONE
CLINIC_NAME = env.str("CLINIC_NAME", default="Riverside Procedure Clinic")
CLINIC_PHONE = env.str("CLINIC_PHONE", default="020 7946 0000")
CLINIC_ADDRESS = env.str("CLINIC_ADDRESS", default="2 Riverside Walk, London")

# --- Static files --------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email ---------------------------------------------------------------------
# Without EMAIL_URL, mail is kept under var/outbox/ and shown at /outbox/.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))  # Django's SMTP backend and its settings
else:
    EMAIL_BACKEND = "clinic.mail.LocalOutboxBackend"
CLINIC_OUTBOX_DIR = VAR_DIR / "outbox"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="appointments@clinic.example")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# --- Cache ---------------------------------------------------------------------
# Holds the patient links' rate-limit counters. The default is per process; with
# several web processes set CACHE_URL (e.g. redis://127.0.0.1:6379/1) so they share
# one count (check --deploy fails otherwise, clinic.E001).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# Every request reads its session. With a shared cache (Redis) sessions are Django's
# cached_db: read from the cache, written through to the database (which stays the
# record: "log out everywhere" deletes from both). A per-process cache cannot hold them
# (another process would keep a session that was ended), so without one they are read
# from the database.
SHARED_CACHE = not CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if SHARED_CACHE
    else "django.contrib.sessions.backends.db"
)

# --- Celery --------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = VAR_DIR / "celery" / "queue"
    _processed = VAR_DIR / "celery" / "processed"
    # Exchange tables for broadcasts; kombu's default is ./control in the cwd.
    _control = VAR_DIR / "celery" / "control"
    _queue.mkdir(parents=True, exist_ok=True)
    _processed.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_processed),
        "control_folder": str(_control),
        "store_processed": False,
    }
else:
    # A message not acknowledged within this time is redelivered; keep it longer
    # than any task runs but short, since the database is the truth anyway.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 15 * 60}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task modules outside an app's tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ("procedures.labs.tasks",)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-reminders": {
        "task": "procedures.tasks.dispatch_due_reminders",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "sweep-expired-leases": {
        # Every minute: a row whose worker died goes again within a minute or two of its
        # lease's end (the dispatcher's claim also takes such rows, lease-aware).
        "task": "procedures.tasks.sweep_expired_leases",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Lab interfaces (procedures/labs): order messages to the labs, as outbox rows.
    "dispatch-lab-orders": {
        "task": "procedures.labs.tasks.dispatch_lab_orders",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "escalate-late-results": {
        "task": "procedures.tasks.escalate_late_results",
        "schedule": 60.0 * env.int("RESULTS_ESCALATION_EVERY_MINUTES", default=15),
        "options": {"expires": 50},
    },
    # Issue 18: the reports' days that are over, counted once (procedures/reports/rollup.py).
    "roll-up-report-days": {
        "task": "procedures.tasks.roll_up_report_days",
        "schedule": 60.0 * 60,
        "options": {"expires": 3000},
    },
    # Issue 13: a working day nobody signed the open loops off is escalated, once.
    "escalate-unsigned-open-loops": {
        "task": "procedures.tasks.escalate_unsigned_open_loops",
        "schedule": 60.0 * env.int("OPEN_LOOPS_ESCALATION_EVERY_MINUTES", default=60),
        "options": {"expires": 50},
    },
}

# The reports' roll-up keeps this many days back (older periods are counted live).
REPORTS_ROLLUP_DAYS = env.int("REPORTS_ROLLUP_DAYS", default=800)

# --- Lab interfaces (procedures/labs) ---------------------------------------------
# Where `manage.py mllp_listener` accepts HL7 v2 results (compose: 0.0.0.0).
MLLP_HOST = env.str("MLLP_HOST", default="127.0.0.1")
MLLP_PORT = env.int("MLLP_PORT", default=2575)
# Processes sharing that port: Python runs one thread at a time per process, so
# on PostgreSQL a second process uses a second core (docs/integration.md).
MLLP_PROCESSES = env.int("MLLP_PROCESSES", default=1)

# --- Reminders -----------------------------------------------------------------
# A reminder stays claimed for this long; past it the sweep hands it back.
REMINDER_LEASE_SECONDS = env.int("REMINDER_LEASE_SECONDS", default=300)
# Past its lease a row goes to another run only after this grace (a live but slow run
# may still be recording what the server accepted): re-sent 30-90 s after the lease.
REMINDER_LEASE_GRACE_SECONDS = env.int("REMINDER_LEASE_GRACE_SECONDS", default=30)
REMINDER_BATCH_SIZE = env.int("REMINDER_BATCH_SIZE", default=200)
# A dispatch run claims batches for this long, then hands on to a fresh run: well inside
# the task's time limits (CELERY_TASK_SOFT_TIME_LIMIT).
REMINDER_RUN_SECONDS = env.int("REMINDER_RUN_SECONDS", default=60)
REMINDER_MAX_ATTEMPTS = env.int("REMINDER_MAX_ATTEMPTS", default=8)
# A refused or failed send is retried after base, 2 x base, 4 x base... (at most an hour).
REMINDER_RETRY_BASE_SECONDS = env.int("REMINDER_RETRY_BASE_SECONDS", default=60)
# /healthz reports unhealthy when the dispatcher has not run for this long.
HEALTHZ_DISPATCHER_MAX_AGE_SECONDS = env.int("HEALTHZ_DISPATCHER_MAX_AGE_SECONDS", default=300)
# Scheduled reminders go out between these clinic times (confirmations and
# cancellation notices, the answers to something just done, go at once).
REMINDER_SEND_WINDOW = (
    env.str("REMINDER_WINDOW_START", default="08:00"),
    env.str("REMINDER_WINDOW_END", default="20:00"),
)
# How far ahead a visit may be booked, in days (a later date is refused as a slip).
CLINIC_BOOKING_HORIZON_DAYS = env.int("CLINIC_BOOKING_HORIZON_DAYS", default=365)
# /healthz turns 503 when a due reminder has waited longer than this.
HEALTHZ_REMINDER_MAX_AGE_SECONDS = env.int("HEALTHZ_REMINDER_MAX_AGE_SECONDS", default=900)
HEALTHZ_EXTRA_CHECKS = {
    "reminders": "procedures.messaging.health.check_reminder_backlog",
    # An escalation with nobody to email degrades /healthz (issue 13).
    "escalations": "procedures.today.loops.check_escalation_recipients",
}
# Patient links (no login): requests per token per hour, per address per 10 minutes,
# and wrong dates of birth before a link locks for a day.
PATIENT_LINK_MAX_PER_TOKEN = env.int("PATIENT_LINK_MAX_PER_TOKEN", default=30)
PATIENT_LINK_MAX_PER_IP = env.int("PATIENT_LINK_MAX_PER_IP", default=60)
# Wrong dates of birth: per visit and per patient, across all their links (a day).
PATIENT_LINK_MAX_DOB_TRIES = env.int("PATIENT_LINK_MAX_DOB_TRIES", default=5)
PATIENT_LINK_MAX_DOB_TRIES_PER_PATIENT = env.int(
    "PATIENT_LINK_MAX_DOB_TRIES_PER_PATIENT", default=10
)

# --- Pre-procedure bloods (docs/patients.md) ----------------------------------------
# EXAMPLES ONLY: review with your clinical team before use. For patients with a
# bleeding disorder or on a blood thinner, a platelet count and an INR taken within
# MAX_AGE_DAYS before the procedure, platelets at least MIN_PLATELETS (x10^9/L) and
# INR at most MAX_INR; anything else shows on the patient's alerts.
CLINIC_BLOODS_MIN_PLATELETS = env.int("CLINIC_BLOODS_MIN_PLATELETS", default=50)
CLINIC_BLOODS_MAX_INR = env.float("CLINIC_BLOODS_MAX_INR", default=1.5)
CLINIC_BLOODS_MAX_AGE_DAYS = env.int("CLINIC_BLOODS_MAX_AGE_DAYS", default=7)

# --- Results follow-up (docs/results.md) ------------------------------------------
# Result PDFs are kept here, outside anything served as static or media files.
CLINIC_PRIVATE_DIR = VAR_DIR / "private"
RESULTS_PDF_MAX_BYTES = env.int("RESULTS_PDF_MAX_BYTES", default=10 * 1024 * 1024)
# Each uploaded file is counted as it streams in and stopped past the limit
# (clinic/uploads.py), before Django's own handlers keep it in memory or on disk.
FILE_UPLOAD_HANDLERS = [
    "clinic.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Escalation thresholds: overdue results go in a daily digest from this clinic hour;
# the clinic lead hears of results overdue by this many more days, and of final
# results unreviewed after the second number of hours.
RESULTS_DIGEST_HOUR = env.int("RESULTS_DIGEST_HOUR", default=7)
RESULTS_OVERDUE_LEAD_DAYS = env.int("RESULTS_OVERDUE_LEAD_DAYS", default=3)
RESULTS_UNREVIEWED_HOURS = env.int("RESULTS_UNREVIEWED_HOURS", default=48)
RESULTS_UNREVIEWED_LEAD_HOURS = env.int("RESULTS_UNREVIEWED_LEAD_HOURS", default=96)
RESULTS_UNCOMMUNICATED_DAYS = env.int("RESULTS_UNCOMMUNICATED_DAYS", default=7)
# Reviewed but the patient still not told this long: the clinic lead is told too.
RESULTS_UNCOMMUNICATED_LEAD_DAYS = env.int("RESULTS_UNCOMMUNICATED_LEAD_DAYS", default=14)
# An order still late at a level is emailed again this often (a repeat digest).
RESULTS_REPEAT_DIGEST_DAYS = env.int("RESULTS_REPEAT_DIGEST_DAYS", default=2)
# The demo clinic (DEBUG) has a lead to email, so escalations there reach someone;
# production must set it (check --deploy warns, /healthz degrades when one waits).
RESULTS_CLINIC_LEAD_EMAILS = env.list(
    "RESULTS_CLINIC_LEAD_EMAILS", default=["clinic-lead@localhost"] if DEBUG else []
)
# The daily open-loops sign-off: unsigned working days within this many days back
# (and not before OPEN_LOOPS_SINCE, a date) are escalated to the clinic lead.
OPEN_LOOPS_LOOKBACK_DAYS = env.int("OPEN_LOOPS_LOOKBACK_DAYS", default=7)
OPEN_LOOPS_SINCE = (
    datetime.date.fromisoformat(env.str("OPEN_LOOPS_SINCE"))
    if env.str("OPEN_LOOPS_SINCE", default="")
    else None
)

# --- Logging: no PHI is ever logged; only ids and states. ---------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Patient-link tokens are redacted from every line (clinic/access_log.py).
    "filters": {
        "patient_links": {"()": "clinic.access_log.RedactPatientLinks"},
        # A 403 is logged as one line, without Django's traceback.
        "no_403_traceback": {"()": "clinic.access_log.NoPermissionDeniedTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["patient_links"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["no_403_traceback"]},
    },
}
