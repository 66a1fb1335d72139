from django.urls import include, path

from procedures.catalog import views as catalog
from procedures.messaging.views import outbox as reminder_outbox
from procedures.messaging.views import patient_links
from procedures.prep import views as prep
from procedures.reports import turnaround
from procedures.reports import views as reports
from procedures.results.views import results
from procedures.scheduling.views import (
    appointments,
    calendars,
    hours,
    lifecycle,
    slot_finder,
    waitlist,
)
from procedures.today.views import checklists, loops, tasks, today

app_name = "procedures"
urlpatterns = [
    path("labs/", include("procedures.labs.urls")),  # lab interfaces (issue 17)
    path("site/", catalog.site_switch, name="site_switch"),  # the header's switcher (#18)
    # Scheduling (issue #3): slot finder, lifecycle, calendars, today board, waitlist.
    path("appointments/find/", slot_finder.slot_finder, name="slot_finder"),
    path(
        "appointments/<int:pk>/confirm/",
        lifecycle.appointment_confirm_view,
        name="appointment_confirm",
    ),
    path(
        "appointments/<int:pk>/check-in/",
        lifecycle.appointment_check_in_view,
        name="appointment_check_in",
    ),
    path(
        "appointments/<int:pk>/check-in/undo/",
        lifecycle.appointment_check_in_undo_view,
        name="appointment_check_in_undo",
    ),
    path(
        "appointments/<int:pk>/start/", lifecycle.appointment_start_view, name="appointment_start"
    ),
    path(
        "appointments/<int:pk>/no-show/",
        lifecycle.appointment_no_show_view,
        name="appointment_no_show",
    ),
    path(
        "appointments/<int:pk>/reschedule/",
        lifecycle.appointment_reschedule_view,
        name="appointment_reschedule",
    ),
    path("calendar/", calendars.calendar_view, name="calendar"),
    # Hours and leave of physicians and rooms, for clinic admins (issue 16).
    path("hours/", hours.hours_list, name="hours"),
    path("hours/closures/add/", hours.closure_add_view, name="hours_closure_add"),
    path("hours/closures/public/", hours.public_holidays_add_view, name="hours_public_holidays"),
    path(
        "hours/closures/<int:closure_pk>/remove/",
        hours.closure_remove_view,
        name="hours_closure_remove",
    ),
    path("hours/<slug:kind>/<int:pk>/", hours.hours_detail, name="hours_detail"),
    path("hours/<slug:kind>/<int:pk>/leave/", hours.leave_add_view, name="hours_leave_add"),
    path(
        "hours/<slug:kind>/<int:pk>/leave/<int:leave_pk>/remove/",
        hours.leave_remove_view,
        name="hours_leave_remove",
    ),
    path("calendar/print/", calendars.day_sheet, name="day_sheet"),
    path("today/", today.today_board_view, name="today"),
    path("today/counts/", today.today_counts_view, name="today_counts"),
    # The nurses' day-of checklists (issue 16): a row a patient, each tick via htmx.
    path("today/checklists/", checklists.day_checklists_view, name="day_checklists"),
    path(
        "today/checklists/<int:pk>/tick/",
        checklists.day_checklist_tick,
        name="day_checklist_tick",
    ),
    # The front desk's queue of open tasks and calls (procedures/views/tasks.py).
    path("tasks/", tasks.task_list, name="tasks"),
    path("tasks/done/", tasks.task_done_view, name="task_done"),
    path("tasks/overdue/", tasks.task_overdue_count, name="tasks_overdue"),
    path("waitlist/", waitlist.waitlist_list, name="waitlist"),
    path("waitlist/<int:pk>/remove/", waitlist.waitlist_remove_view, name="waitlist_remove"),
    path("waitlist/<int:pk>/offer/", waitlist.waitlist_offer_view, name="waitlist_offer"),
    path("appointments/", appointments.appointment_list, name="appointment_list"),
    path("appointments/book/", appointments.appointment_book_view, name="appointment_book"),
    path("appointments/<int:pk>/", appointments.appointment_detail, name="appointment_detail"),
    path(
        "appointments/<int:pk>/complete/",
        appointments.appointment_complete_view,
        name="appointment_complete",
    ),
    path(
        "appointments/<int:pk>/cancel/",
        appointments.appointment_cancel_view,
        name="appointment_cancel",
    ),
    path("results/", results.worklist, name="worklist"),
    path("results/<int:pk>/", results.result_log_view, name="result_log"),
    path("results/<int:pk>/review/", results.result_review_view, name="result_review"),
    path(
        "results/<int:pk>/communicate/",
        results.result_communicate_view,
        name="result_communicate",
    ),
    path("results/<int:pk>/sent/", results.order_sent_view, name="order_sent"),
    path("results/<int:pk>/reassign/", results.order_reassign_view, name="order_reassign"),
    path("results/<int:pk>/cancel/", results.order_cancel_view, name="order_cancel"),
    path("results/<int:pk>/replace/", results.order_replace_view, name="order_replace"),
    path(
        "results/physicians-without-email/",
        results.physicians_without_email,
        name="physicians_without_email",
    ),
    # Issue 13: alarms on staff pages and the daily open-loops report.
    path("alarms/", loops.alarms, name="alarms"),
    path("open-loops/", loops.open_loops, name="open_loops"),
    path("open-loops/sign-off/", loops.open_loops_sign_off, name="open_loops_sign_off"),
    path("results/reports/<int:pk>/pdf/", results.result_pdf, name="result_pdf"),
    path("results/attention/", results.attention_count, name="results_attention"),
    path("results/turnaround/", turnaround.turnaround, name="turnaround"),
    path("results/turnaround.csv", turnaround.turnaround_csv, name="turnaround_csv"),
    # Operations dashboard (issue 18): read from the replica (clinic/db_routers.py).
    path("reports/operations/", reports.operations, name="operations"),
    path("reports/operations/<slug:table>.csv", reports.operations_csv, name="operations_csv"),
    path(
        "appointments/<int:pk>/sample/",
        results.procedure_complete_view,
        name="procedure_complete",
    ),
    # Preparation (procedures/views/prep.py)
    path("appointments/<int:pk>/prep/", prep.prep_detail, name="prep_detail"),
    path("appointments/<int:pk>/prep/print/", prep.prep_print, name="prep_print"),
    path(
        "appointments/<int:pk>/prep/medicines/",
        prep.prep_medication_add,
        name="prep_medication_add",
    ),
    path("appointments/<int:pk>/prep/holds/", prep.prep_hold_set, name="prep_hold_set"),
    path(
        "appointments/<int:pk>/prep/holds/confirm/",
        prep.prep_hold_confirm,
        name="prep_hold_confirm",
    ),
    path("appointments/<int:pk>/prep/sedation/", prep.prep_sedation, name="prep_sedation"),
    path("appointments/<int:pk>/prep/transport/", prep.prep_transport, name="prep_transport"),
    path("appointments/<int:pk>/prep/site/", prep.prep_site, name="prep_site"),
    path(
        "appointments/<int:pk>/prep/checklist/",
        prep.prep_checklist_tick,
        name="prep_checklist_tick",
    ),
    path("prep-tasks/<int:pk>/done/", prep.prep_task_done, name="prep_task_done"),
    # Reminders: the staff outbox, and the patient-facing link pages (no login).
    path("reminders/", reminder_outbox.outbox_list, name="outbox_list"),
    path(
        "reminders/<int:pk>/resend/",
        reminder_outbox.reminder_resend_view,
        name="reminder_resend",
    ),
    path(
        "reminders/<int:pk>/resolve/",
        reminder_outbox.reminder_resolve_view,
        name="reminder_resolve",
    ),
    path("p/<slug:purpose>/<str:token>/", patient_links.patient_link, name="patient_link"),
]
