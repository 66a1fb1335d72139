from django.urls import path

from procedures.labs import views

app_name = "labs"
urlpatterns = [
    path("fhir/Bundle", views.fhir_results, name="fhir_results"),
    path("unmatched/", views.unmatched_list, name="unmatched_list"),
    path("unmatched/<int:pk>/", views.unmatched_detail, name="unmatched_detail"),
    path("unmatched/<int:pk>/match/", views.unmatched_match, name="unmatched_match"),
    path("unmatched/<int:pk>/reject/", views.unmatched_reject, name="unmatched_reject"),
    path("order-messages/", views.order_messages, name="order_messages"),
    path("order-messages/<int:pk>/retry/", views.order_message_retry, name="order_message_retry"),
    path(
        "order-messages/<int:pk>/resolve/",
        views.order_message_resolve,
        name="order_message_resolve",
    ),
    path("orders/<int:pk>/result/", views.structured_result, name="structured_result"),
    path("orders/<int:pk>/labels.pdf", views.order_labels, name="order_labels"),
    path("appointments/<int:pk>/requisition.pdf", views.requisition, name="requisition"),
]
