"""Test harness shared by the suite, .ci/smoke.py, tests/load and the dev benchmarks:
a real SMTP server that records what it accepts, real worker processes, and the
pages a scripted browser reads. Never imported by the product."""
