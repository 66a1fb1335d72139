from django.urls import path

from . import views

app_name = "patients"
urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("pick/", views.patient_pick, name="pick"),
    path("merge/", views.patient_merge_view, name="merge"),
    path("<int:pk>/", views.patient_detail, name="detail"),
    path("<int:pk>/edit/", views.patient_update, name="update"),
    path("<int:pk>/clinical/", views.patient_clinical, name="clinical"),
    path("<int:pk>/allergies/", views.allergy_add, name="allergy_add"),
    path("<int:pk>/allergies/none/", views.allergy_none, name="allergy_none"),
    path(
        "<int:pk>/allergies/<int:allergy_id>/remove/",
        views.allergy_remove,
        name="allergy_remove",
    ),
    path("<int:pk>/bloods/", views.bloods_add, name="bloods_add"),
    path("<int:pk>/bleeding-disorder/", views.bleeding_disorder_set, name="bleeding_disorder_set"),
]
