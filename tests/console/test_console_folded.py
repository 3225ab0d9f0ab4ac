"""A folded event shows what a lead must see (issue 12): every distinct search term and path
of its visits with counts and first/last seen, the visits past the store's bound counted, the
same in the CSV export; IT staff see terms (the rule they fix matched one), never the pupil."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from monitor.store.models import Event
from tests.console.conftest import visit

QUERIES = [
    "zorblax front join", "how to join zorblax front", "zorblax front join",
    "zorblax front attack plans", "zorblax front join",
]  # fmt: skip


def folded_search(store: Any) -> str:
    """Five searches in four minutes, folded into one event; its id (the first visit's)."""
    visits = [
        visit(10 - i, search_terms=q, url=f"https://search.example/search/{i % 2}?q={i}",
              severity=3 if "attack" in q else 2)
        for i, q in enumerate(QUERIES)
    ]  # fmt: skip
    store.store_visits(*visits)
    with store.sessions() as session:
        (event,) = session.scalars(select(Event)).all()
        assert event.repeat_count == 5
        return event.event_id


async def test_event_page_lists_every_term_and_path_with_counts(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id = folded_search(store)
    with store.sessions() as session:  # as if past the bound: counted, not listed
        session.execute(update(Event).values(more_terms=7, more_paths=2))
        session.commit()
    await login(client, "prevent_lead")
    html = await (await client.get(f"/events/{event_id}")).text()
    for query in set(QUERIES):
        assert query in html
    assert '<td class="terms">zorblax front join</td><td>3</td>' in html
    assert "<code>/search/0</code></td><td>3</td>" in html
    assert "<code>/search/1</code></td><td>2</td>" in html
    assert "And 7 more visits with search terms not listed" in html
    assert "And 2 more visits to paths not listed" in html
    assert 'sev sev3">high<' in html  # the strongest severity of the five, not the first
    printed = await (await client.get(f"/events/{event_id}/print")).text()
    assert "zorblax front attack plans" in printed


async def test_it_staff_see_the_terms_and_paths_but_not_the_pupil(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id = folded_search(store)
    await login(client, "it_staff")
    html = await (await client.get(f"/events/{event_id}")).text()
    assert "zorblax front attack plans" in html and "/search/1" in html
    assert "pupil.amy" not in html and "lab-pc-01" not in html and "10.0.0.21" not in html


async def test_comms_cannot_open_the_event(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id = folded_search(store)
    await login(client, "comms")
    response = await client.get(f"/events/{event_id}")
    assert response.status == 403
    assert "zorblax" not in await response.text()


async def test_csv_export_carries_every_term_and_path(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id = folded_search(store)
    csrf = await login(client, "prevent_lead")
    for response in (
        await client.post("/events/export", data={"csrf_token": csrf, "event": event_id}),
        await client.get("/events.csv"),
    ):
        (row,) = csv.DictReader(io.StringIO(await response.text()))
        assert row["all_search_terms"].splitlines() == [
            "3\u00d7 zorblax front join", "1\u00d7 how to join zorblax front",
            "1\u00d7 zorblax front attack plans",
        ]  # fmt: skip
        assert row["all_paths"].splitlines() == ["3\u00d7 /search/0", "2\u00d7 /search/1"]
        assert (row["more_search_terms"], row["more_paths"], row["repeat_count"]) == ("0", "0", "5")


# -- a block page's reference opens the event that holds its visit


def folded_visits(store: Any) -> tuple[str, str]:
    """Three visits to a blocked site, folded into one event: (the event's id, the reference
    the third visit's block page showed)."""
    visits = [visit(9 - i, kind="url", action="block", url=f"https://bad.test/p{i}",
                    host="bad.test", rule="bad.test", search_terms=None) for i in range(3)]
    store.store_visits(*visits)
    with store.sessions() as session:
        (event,) = session.scalars(select(Event)).all()
    assert event.event_id == visits[0].id != visits[2].id
    return event.event_id, visits[2].id


async def test_a_folded_visits_reference_opens_the_event_holding_it(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id, reference = folded_visits(store)
    await login(client, "prevent_lead")
    response = await client.get(f"/events/{reference}", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/events/{event_id}"
    page = await client.get(f"/events/{reference}")
    html = await page.text()
    assert page.status == 200 and event_id in html and "/p2</code>" in html
    assert "no such event" not in html
    printed = await client.get(f"/events/{reference}/print", allow_redirects=False)
    assert printed.headers["Location"] == f"/events/{event_id}/print"
    missing = await client.get("/events/0123456789abcdef0123456789abcdef")
    assert missing.status == 404 and "no such event" in await missing.text()


async def test_the_search_box_finds_an_event_by_any_visits_reference(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id, reference = folded_visits(store)
    store.add_event(host="other.test")
    await login(client, "prevent_lead")
    html = await (await client.get(f"/events?q={reference}")).text()
    assert f'href="/events/{event_id}"' in html and "other.test" not in html


async def test_it_staff_follow_a_reference_too(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event_id, reference = folded_visits(store)
    await login(client, "it_staff")
    response = await client.get(f"/events/{reference}")
    html = await response.text()
    assert response.status == 200 and event_id in html and "pupil.amy" not in html
