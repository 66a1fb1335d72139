"""The reporting router: reads inside `reporting()` go to the replica, writes never do."""

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connections, router
from django.test.utils import CaptureQueriesContext

from clinic.db_routers import REPLICA, ReportingRouter, reporting


def test_it_routes_reads_to_the_replica_only_inside_a_report():
    assert router.db_for_read(User) == "default"
    with reporting() as alias:
        assert alias == REPLICA
        assert router.db_for_read(User) == REPLICA
    assert router.db_for_read(User) == "default"


def test_it_never_routes_a_write_to_the_replica():
    with reporting():
        assert router.db_for_write(User) == "default"
    user = User(username="x")
    user._state.db = REPLICA  # as if read from the replica
    assert router.db_for_write(User, instance=user) == "default"


def test_it_never_migrates_the_replica():
    assert ReportingRouter().allow_migrate(REPLICA, "procedures") is False
    assert ReportingRouter().allow_migrate("default", "procedures") is None


def test_the_mark_ends_with_the_block_even_on_an_error():
    with pytest.raises(RuntimeError), reporting():
        raise RuntimeError
    assert router.db_for_read(User) == "default"


def test_one_thread_s_report_does_not_route_another_thread_s_reads():
    seen = []
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait(5)
        seen.append(router.db_for_read(User))
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with reporting():
        inside.set()
        done.wait(5)
    thread.join(5)
    assert seen == ["default"]


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_save_inside_a_report_writes_to_the_primary():
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
        reporting(),
    ):
        User.objects.create(username="written")
        assert User.objects.filter(username="written").exists()  # read back on the replica
    assert any("INSERT" in q["sql"] for q in primary.captured_queries)
    assert not any("INSERT" in q["sql"] for q in replica.captured_queries)
    assert '"auth_user"."username" = \'written\'' in replica.captured_queries[-1]["sql"]
