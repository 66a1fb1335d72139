from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tooling: demo and scale data, benchmarks. No models; commands only."""

    name = "procedures.devtools"
    label = "devtools"
