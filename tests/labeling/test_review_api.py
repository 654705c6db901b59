"""Review queue API: claim next, blinded item, decide, skip, renew, send back, adjudicate, agreement."""

import pytest

from curation.models import Role
from labeling.models import ReviewDecision, ReviewState
from tests.factories import MembershipFactory, UserFactory
from tests.labeling.review_helpers import label_item

pytestmark = pytest.mark.django_db

BASE = "/api/projects/chest/review"


@pytest.fixture
def rad2(project):
    return MembershipFactory(project=project, user=UserFactory(username="rad2"), role=Role.RADIOLOGIST).user


def test_next_returns_the_blinded_item_with_report_images_and_a_prefetch_hint(project, members, api):
    # Given two items with images, the first with a report
    top = label_item(project, 0.9, with_image=True, report="Heart size is enlarged.")
    following = label_item(project, 0.4, with_image=True)
    # When a radiologist claims the next item
    response = api(members["radiologist"]).post(f"{BASE}/label/next/")
    # Then they get the top item with its report, prefill, reasons, claim, and the next image to fetch ahead
    body = response.json()
    assert response.status_code == 200
    assert (body["id"], body["state"], body["report"], body["resumed"]) == (
        top.pk,
        "in_review",
        "Heart size is enlarged.",
        False,
    )
    assert [e["label"] for e in body["prefill"]["labels"]] == ["Atelectasis", "Cardiomegaly", "Pleural Effusion"]
    assert body["reasons"] == ["Cardiomegaly: the report hedges: 'cannot be excluded'"]
    assert body["claim"]["slot"] == 1
    assert "reads" not in body and body["mine"] is None
    image = following.study.images.get()
    assert body["prefetch"] == [f"/api/projects/chest/images/{image.pk}/display/"]


def test_next_on_an_empty_queue_is_204(project, members, api):
    response = api(members["radiologist"]).post(f"{BASE}/label/next/")
    assert response.status_code == 204


def test_an_unknown_queue_is_404(project, members, api):
    response = api(members["radiologist"]).post(f"{BASE}/everything/next/")
    assert response.status_code == 404


def test_decide_records_the_read_and_answers_the_new_state(project, members, api):
    # Given a claimed single-read item
    item = label_item(project, 0.9)
    client = api(members["radiologist"])
    client.post(f"{BASE}/label/next/")
    # When the radiologist decides
    response = client.post(
        f"{BASE}/items/{item.pk}/decide/",
        {"payload": {"labels": {"Cardiomegaly": "positive"}}, "seconds": 7},
        format="json",
    )
    # Then the decision is stored and the item decided
    assert response.status_code == 201
    assert response.json()["state"] == "decided"
    decision = ReviewDecision.objects.get(item=item)
    assert (decision.reader.username, decision.seconds, decision.payload["labels"]["Cardiomegaly"]) == (
        "radiologist",
        7.0,
        "positive",
    )


def test_decide_without_a_claim_is_409_and_a_bad_status_is_400(project, members, api):
    item = label_item(project, 0.9)
    client = api(members["radiologist"])
    assert client.post(f"{BASE}/items/{item.pk}/decide/", {"payload": {}}, format="json").status_code == 409
    client.post(f"{BASE}/label/next/")
    bad = client.post(
        f"{BASE}/items/{item.pk}/decide/", {"payload": {"labels": {"Cardiomegaly": "yes"}}}, format="json"
    )
    assert bad.status_code == 400
    assert "Status must be one of" in bad.json()["labels"][0]


def test_the_item_endpoint_never_shows_the_other_read_before_adjudication(project, members, rad2, api):
    # Given a double-read item the radiologist decided
    item = label_item(project, 0.9, required_reads=2)
    first = api(members["radiologist"])
    first.post(f"{BASE}/label/next/")
    first.post(f"{BASE}/items/{item.pk}/decide/", {"payload": {"labels": {"Cardiomegaly": "positive"}}}, format="json")
    # When the second radiologist claims it and the curator looks at it
    second = api(rad2).post(f"{BASE}/label/next/").json()
    curator = api(members["curator"]).get(f"{BASE}/items/{item.pk}/").json()
    # Then neither sees the first read
    assert "reads" not in second and second["mine"] is None
    assert "reads" not in curator


def test_disagreement_then_adjudication_over_the_api(project, members, rad2, api):
    # Given two radiologists who disagree on a double-read item
    item = label_item(project, 0.9, required_reads=2)
    for user, status in ((members["radiologist"], "positive"), (rad2, "negative")):
        client = api(user)
        client.post(f"{BASE}/label/next/")
        client.post(f"{BASE}/items/{item.pk}/decide/", {"payload": {"labels": {"Cardiomegaly": status}}}, format="json")
    # When the curator reads the item, then adjudicates
    view = api(members["curator"]).get(f"{BASE}/items/{item.pk}/").json()
    response = api(members["curator"]).post(
        f"{BASE}/items/{item.pk}/adjudicate/", {"payload": {"labels": {"Cardiomegaly": "uncertain"}}}, format="json"
    )
    # Then they saw both reads, and the item is final with their answer
    assert view["state"] == "adjudication"
    assert sorted((r["reader"], r["payload"]["labels"]["Cardiomegaly"]) for r in view["reads"]) == [
        ("rad2", "negative"),
        ("radiologist", "positive"),
    ]
    assert response.status_code == 201
    item.refresh_from_db()
    assert (item.state, item.final["labels"]["Cardiomegaly"]) == (ReviewState.FINAL, "uncertain")


def test_skip_renew_and_send_back(project, members, api):
    # Given an item the radiologist holds
    item = label_item(project, 0.9)
    client = api(members["radiologist"])
    client.post(f"{BASE}/label/next/")
    # When they renew, then skip; and a curator sends it back
    renewed = client.post(f"{BASE}/items/{item.pk}/renew/")
    skipped = client.post(f"{BASE}/items/{item.pk}/skip/")
    sent = api(members["curator"]).post(f"{BASE}/items/{item.pk}/send-back/", {"comment": "re-read"}, format="json")
    # Then each answers with the new state
    assert renewed.status_code == 200 and "expires_at" in renewed.json()
    assert skipped.json() == {"id": item.pk, "skipped": True}
    assert sent.json() == {"id": item.pk, "state": "pending", "round": 2}


def test_agreement_reports_kappa_per_label_and_reader(project, members, rad2, api):
    # Given two items both radiologists read: they agree on one and not on the other
    for priority, status2 in ((0.9, "positive"), (0.8, "negative")):
        item = label_item(project, priority, required_reads=2)
        for user, status in ((members["radiologist"], "positive"), (rad2, status2)):
            client = api(user)
            client.post(f"{BASE}/label/next/")
            client.post(
                f"{BASE}/items/{item.pk}/decide/",
                {"payload": {"labels": {"Cardiomegaly": status}}, "seconds": 30},
                format="json",
            )
    # When anyone in the project asks for the agreement
    body = api(members["viewer"]).get(f"{BASE}/agreement/").json()
    # Then Cardiomegaly's kappa is 0 (radiologist always positive), the others undefined (one category),
    # and the radiologist agrees with the one final answer on every label
    pair = body["pairs"][0]
    assert (pair["readers"], pair["items"]) == (["rad2", "radiologist"], 2)
    assert pair["kappa"] == {"Atelectasis": None, "Cardiomegaly": 0.0, "Pleural Effusion": None}
    per = {r["reader"]: r for r in body["per_reader"]}
    assert per["radiologist"]["agreement_with_final"] == 1.0
    assert per["radiologist"]["items_per_hour"] == 120.0
    assert per["radiologist"]["seconds_per_item"] == 30.0


@pytest.mark.parametrize("size", [3, 30])
def test_next_and_decide_take_the_same_number_of_queries_whatever_the_queue_size(
    project, members, api, size, django_assert_num_queries
):
    # Given a queue of `size` double-read items with an image and a report each
    for i in range(size):
        label_item(project, priority=i / size, required_reads=2, with_image=True, report="No effusion.")
    reader = members["radiologist"]

    def client():  # a fresh user per request, as token authentication gives: the role lookup counts too
        return api(type(reader).objects.get(pk=reader.pk))

    # When the radiologist claims the next item, then decides it
    # (project, role, savepoint, resume check, locked walk, claims, insert, state, the study's review facets,
    # audit, release savepoint, images, report, the upcoming item, its image)
    next_client, decide_client = client(), client()
    with django_assert_num_queries(15):
        body = next_client.post(f"{BASE}/label/next/").json()
    # (project, role, savepoint, locked item, claim, the round's reads, insert, claim decided, state, the study's
    # review facets, audit, release savepoint)
    with django_assert_num_queries(12):
        response = decide_client.post(f"{BASE}/items/{body['id']}/decide/", {"payload": {"labels": {}}}, format="json")
    # Then the item was the top one, with the next one's image to fetch ahead, and the read is in
    assert (body["priority"], len(body["prefetch"]), response.status_code) == (round((size - 1) / size, 4), 1, 201)
    assert response.json()["state"] == "in_review"
