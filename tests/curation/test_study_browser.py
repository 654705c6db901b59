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
    # 13: on PostgreSQL the list's plan budget adds its SET LOCAL, and inside the test's transaction a savepoint
    # and the reset around it.
    with django_assert_max_num_queries(13):
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


def _page_ids(client, query):
    """Study ids of one HTML page, in order, and the next page's cursor (None on the last page)."""
    html = client.get(f"/p/chest/studies/?{query}").content.decode()
    ids = [int(part.split("/")[0]) for part in html.split('data-href="/p/chest/studies/')[1:]]
    cursor = html.split("before=")[1].split('"')[0] if 'rel="next"' in html else None
    return ids, cursor, html


def _walk(client, sort):
    """Every study id in the order `sort` gives, page by page through the cursors."""
    ids, cursor, _ = _page_ids(client, f"sort={sort}")
    while cursor:
        more, cursor, _ = _page_ids(client, f"sort={sort}&before={cursor}")
        ids += more
    return ids


def test_sorted_pages_walk_every_study_once_in_order(project, members, monkeypatch):
    monkeypatch.setattr("curation.services.studies.PAGE_SIZE", 4)
    monkeypatch.setattr("frontend.study_views.sorted_page.__defaults__", (4,))
    days = [dt.date(2020, 1, 5), dt.date(2020, 1, 5), None, dt.date(2019, 3, 1), None, dt.date(2021, 7, 9)]
    days += [dt.date(2020, 1, 5), dt.date(2018, 2, 2), None, dt.date(2022, 1, 1)]
    studies = [_study(project, study_date=day) for day in days]
    client = Client()
    client.force_login(members["viewer"])
    by_date_desc = sorted(
        studies, key=lambda s: (s.study_date is None, -(s.study_date.toordinal() if s.study_date else 0), -s.pk)
    )
    assert _walk(client, "date") == [s.pk for s in by_date_desc]
    by_date_asc = sorted(studies, key=lambda s: (s.study_date is not None, s.study_date or dt.date.min, s.pk))
    assert _walk(client, "date_asc") == [s.pk for s in by_date_asc]
    assert _walk(client, "newest") == sorted((s.pk for s in studies), reverse=True)
    assert _walk(client, "oldest") == sorted(s.pk for s in studies)
    # An unknown order is the default; a forged cursor starts at the top instead of failing.
    assert _page_ids(client, "sort=study_key")[0] == _page_ids(client, "")[0]
    assert _page_ids(client, "sort=date&before=2020-13-99.x")[0] == _page_ids(client, "sort=date")[0]


def test_study_rows_have_readable_names_and_filtered_lists_a_count(project, members, monkeypatch):
    patient = PatientFactory(project=project, pseudo_id="PREAD01")
    study = _study(project, patient=patient, study_date=dt.date(2020, 4, 2), view="AP", dataset="nih")
    ImageFactory(study=study, view_position="LAT")
    for _ in range(3):
        _study(project, dataset="chexpert")
    client = Client()
    client.force_login(members["viewer"])
    _, _, html = _page_ids(client, "")
    assert "PREAD01 · 2020-04-02 · AP+LAT" in html
    assert 'data-testid="result-count"' not in html  # the unfiltered total is the dashboard's
    # A filtered list loads its count after it is shown, with the same filters.
    assert 'hx-get="/p/chest/studies/count/?dataset=nih"' in _page_ids(client, "dataset=nih")[2]

    def count(query):
        response = client.get(f"/p/chest/studies/count/?{query}")
        assert response.status_code == 200
        return response.content.decode().strip()

    assert count("dataset=nih") == "1 study matches."
    assert count("dataset=chexpert") == "3 studies match."
    assert count("dataset=chexpert&view=LAT") == "0 studies match."
    assert "Give one of" in count("dataset=nope")
    monkeypatch.setattr("curation.services.studies.capped_count.__defaults__", (2,))
    assert count("dataset=chexpert") == "More than 2 studies match."


def test_review_state_filter(project, members, api):
    from labeling.models import ReviewItem

    waiting, disputed, untouched = _study(project), _study(project), _study(project)
    for study, state in ((waiting, "pending"), (disputed, "adjudication")):
        ReviewItem.objects.create(
            project=project, kind="label", study=study, target_key=f"study:{study.pk}", state=state
        )
    client = api(members["viewer"])

    def ids(query):
        response = client.get(f"/api/projects/chest/studies/?{query}")
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids("review_state=pending") == [waiting.pk]
    assert ids("review_state=adjudication") == [disputed.pk]
    assert ids("review_state=final") == []
    assert len(ids("")) == 3 and untouched.pk in ids("")
    bad = client.get("/api/projects/chest/studies/?review_state=in")
    assert bad.status_code == 400 and "review_state" in bad.json()
