"""gunicorn's settings for the image, compose and the production smoke test
(.ci/smoke.py): one file, so all three run the web server the same way.

The access log goes to stdout with patient-link tokens redacted
(clinic/access_log.py). GUNICORN_BIND and GUNICORN_WORKERS override the defaults.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
accesslog = "-"
errorlog = "-"
logger_class = "clinic.access_log.RedactingLogger"
# The client's address is resolved by the app (clinic/client_ip.py), not here.
forwarded_allow_ips = ""
timeout = 60
graceful_timeout = 20
