"""The review queue under 20 concurrent API clients on PostgreSQL: 2,000 double-read items, every item read by
exactly two different readers, no read slot ever held by two readers, no decision lost."""

import os
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from curation.models import Role
from labeling.models import Claim, ClaimOutcome, ReviewDecision, ReviewItem, ReviewKind, ReviewState
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

CLIENTS = 20
ITEMS = 2000
LABELS = ["Cardiomegaly", "Edema"]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql" and os.environ.get("CI", "").lower() != "true":
        pytest.skip("concurrency tests need PostgreSQL (DATABASE_URL=postgres://...)")


def _items(project):
    prefill = {"labels": [{"label": label, "status": "negative", "evidence": [], "reasons": []} for label in LABELS]}
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                project=project,
                kind=ReviewKind.LABEL,
                target_key=f"t:{i}",
                prefill=prefill,
                priority=(i % 97) / 97,
                required_reads=2,
            )
            for i in range(ITEMS)
        ],
        batch_size=1000,
    )


@pytest.mark.timeout(900)  # 8,000 requests from one Python process: a few minutes on two cores
def test_twenty_review_clients_work_through_two_thousand_double_read_items(project):
    # Given 2,000 items needing two reads each, and 20 radiologists
    _items(project)
    readers = [
        MembershipFactory(project=project, user=UserFactory(username=f"reader{i:02d}"), role=Role.RADIOLOGIST).user
        for i in range(CLIENTS)
    ]
    barrier = threading.Barrier(CLIENTS)
    claimed: dict[tuple[int, int], set[str]] = defaultdict(set)  # (item, slot) -> readers handed that slot
    accepted: list[tuple[int, str]] = []  # every decide the API answered 201 to
    failures: list = []
    lock = threading.Lock()

    def work(user):
        client = APIClient()
        client.force_authenticate(user)
        empty = 0
        try:
            barrier.wait()
            # A 204 can mean "the one item left is locked by another reader's transaction right now": ask a
            # few times before concluding the queue has nothing for this reader.
            while empty < 5:
                response = client.post("/api/projects/chest/review/label/next/")
                if response.status_code == 204:
                    empty += 1
                    time.sleep(0.05)
                    continue
                if response.status_code != 200:
                    failures.append(("next", response.status_code, response.content[:200]))
                    return
                empty = 0
                body = response.json()
                with lock:
                    claimed[(body["id"], body["claim"]["slot"])].add(user.username)
                # Readers disagree now and then, so some items go to adjudication.
                status = "positive" if (body["id"] + user.pk) % 7 == 0 else "negative"
                decided = client.post(
                    f"/api/projects/chest/review/items/{body['id']}/decide/",
                    {"payload": {"labels": {"Cardiomegaly": status}}, "seconds": 1},
                    format="json",
                )
                if decided.status_code != 201:
                    failures.append(("decide", decided.status_code, decided.content[:200]))
                    return
                with lock:
                    accepted.append((body["id"], user.username))
        except BaseException as exc:  # the test reads it
            failures.append(exc)
        finally:
            connections.close_all()

    # When they all work through the queue at once
    threads = [threading.Thread(target=work, args=(user,)) for user in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=850)
    # Then nobody failed, and every item ends with exactly two decisions by two different readers
    assert failures == []
    assert len(accepted) == 2 * ITEMS
    rows = list(ReviewDecision.objects.values_list("item_id", "reader__username"))
    assert sorted(rows) == sorted(accepted)  # no decision lost, none invented
    per_item = Counter(item for item, _ in rows)
    assert set(per_item.values()) == {2} and len(per_item) == ITEMS
    readers_of = defaultdict(set)
    for item, reader in rows:
        readers_of[item].add(reader)
    assert {len(names) for names in readers_of.values()} == {2}
    # And no read slot was ever handed to two readers; each item's two claims are its two slots, both decided
    assert all(len(names) == 1 for names in claimed.values())
    assert len(claimed) == 2 * ITEMS
    claims = Counter((item, slot) for item, slot in Claim.objects.values_list("item_id", "slot"))
    assert set(claims.values()) == {1} and len(claims) == 2 * ITEMS
    assert set(Claim.objects.values_list("outcome", flat=True)) == {ClaimOutcome.DECIDED}
    assert not ReviewItem.objects.filter(state__in=[ReviewState.PENDING, ReviewState.IN_REVIEW]).exists()
