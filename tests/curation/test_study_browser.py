"""Study browser: filters, keyset pages, patient timelines, fixed query counts."""

import datetime as dt

from django.test import Client

from curation.models import Report
from tests.factories import ImageFactory, PatientFactory, StudyFactory


def _study(project, **kw):
    view = kw.pop("view", "PA")
    labels = kw.pop("labels", None)
    text = kw.pop("text", "")
    study = StudyFactory(
        patient=kw.pop("patient", None) or PatientFactory(project=project), has_report=bool(text), **kw
    )
    ImageFactory(study=study, view_position=view)
    if labels is not None or text:
        Report.objects.create(study=study, text=text, source=study.dataset, source_labels=labels or {})
    return study


def test_filters_combine(project, members, api):
    a = _study(project, dataset="nih", sex="M", age_years=70, labels={"Effusion": 1}, view="PA")
    _study(project, dataset="nih", sex="F", age_years=70, labels={"Effusion": 0})
    _study(project, dataset="chexpert", sex="M", age_years=30, view="LAT", text="Normal chest.")
    client = api(members["viewer"])

    def ids(query):
        return [r["id"] for r in client.get(f"/api/projects/chest/studies/?{query}").json()["results"]]

    assert ids("dataset=nih&sex=M") == [a.pk]
    assert ids("label=Effusion") == [a.pk]
    assert len(ids("age_min=60&age_max=80")) == 2
    assert len(ids("view=LAT")) == 1
    assert len(ids("has_report=true")) == 1
    response = client.get("/api/projects/chest/studies/?age_min=old")
    assert response.status_code == 400
    assert response.json() == {"age_min": ["Give a whole number of years."]}


def test_study_pages_keyset_and_query_count_is_constant(project, members, django_assert_max_num_queries):
    for _ in range(60):
        _study(project)
    client = Client()
    client.force_login(members["viewer"])
    with django_assert_max_num_queries(12):
        first = client.get("/p/chest/studies/")
    html = first.content.decode()
    assert html.count('data-href="/p/chest/studies/') == 50
    assert "before=" in html
    before = html.split("before=")[1].split('"')[0]
    second = client.get(f"/p/chest/studies/?before={before}").content.decode()
    assert second.count('data-href="/p/chest/studies/') == 10


def test_patient_page_lists_studies_in_date_order(project, members, api):
    patient = PatientFactory(project=project, pseudo_id="PTIMELINE")
    later = _study(project, patient=patient, study_date=dt.date(2021, 5, 1))
    earlier = _study(project, patient=patient, study_date=dt.date(2020, 1, 1))
    body = api(members["viewer"]).get("/api/projects/chest/patients/PTIMELINE/").json()
    assert [s["id"] for s in body["studies"]] == [earlier.pk, later.pk]
    client = Client()
    client.force_login(members["viewer"])
    html = client.get("/p/chest/patients/PTIMELINE/").content.decode()
    assert html.index("2020-01-01") < html.index("2021-05-01")


def test_study_page_shows_report_and_native_labels(project, members):
    study = _study(project, dataset="nih", text="FINDINGS: Small left effusion.", labels={"Effusion": 1, "Mass": 0})
    client = Client()
    client.force_login(members["radiologist"])
    html = client.get(f"/p/chest/studies/{study.pk}/").content.decode()
    assert "Small left effusion." in html
    assert "Effusion: 1" in html and "Mass: 0" in html
