"""A network's counts read with their thousands separated ("56,624 escalations"), as
the benchmark's network showed them run together ("56624")."""

from django.template.loader import render_to_string


def test_the_alarm_separates_the_thousands():
    html = render_to_string("procedures/_alarms.html", {"count": 56624, "may": {}})

    assert "56,624 escalations have nobody to email." in html


def test_one_escalation_reads_in_the_singular():
    html = render_to_string("procedures/_alarms.html", {"count": 1, "may": {}})

    assert "1 escalation has nobody to email." in html
