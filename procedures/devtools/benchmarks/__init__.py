"""The benchmark behind `manage.py benchmark` (see docs/performance.md)."""
