"""Who, when there is no user name (issue 12): the ranking, the queue, the timeline and the
event page use the best identity known (user, else device from the device map, else client
address), labelled as such; IT staff see it only as a pseudonym."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient


def unnamed_events(store: Any) -> tuple[str, str]:
    """18 events, none with a user name: 12 of a mapped device, 6 of a bare address."""
    device = [store.add_event(user=None, device="lab-pc-01", client_ip="10.0.0.5",
                              host=f"d{i}.test") for i in range(12)]  # fmt: skip
    address = [store.add_event(user=None, device=None, client_ip="10.0.0.21", severity=4,
                               host=f"a{i}.test") for i in range(6)]  # fmt: skip
    return device[0].event_id, address[0].event_id


async def test_ranking_ranks_devices_and_addresses_without_a_user(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    unnamed_events(store)
    await login(client, "prevent_lead")
    html = await (await client.get("/ranking")).text()
    assert "No events in this period" not in html
    # 12 x severity 3 = 36 against 6 x 4 = 24: the device first.
    assert html.index("device lab-pc-01") < html.index("address 10.0.0.21")
    assert 'href="/events?device=lab-pc-01"' in html
    assert 'href="/events?address=10.0.0.21"' in html
    queue = await (await client.get("/events?address=10.0.0.21")).text()
    assert queue.count('<td>address 10.0.0.21') == 6 and "d0.test" not in queue


async def test_timeline_and_event_page_name_the_device(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    device_event, address_event = unnamed_events(store)
    await login(client, "prevent_lead")
    timeline = await (await client.get(f"/events/{device_event}/timeline")).text()
    assert "Timeline of device lab-pc-01" in timeline
    page = await (await client.get(f"/events/{address_event}")).text()
    assert "known as address 10.0.0.21" in page


async def test_it_staff_see_a_pseudonym_of_the_device_or_address(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    device_event, address_event = unnamed_events(store)
    await login(client, "it_staff")
    for event_id, kind in ((device_event, "device"), (address_event, "address")):
        html = await (await client.get(f"/events/{event_id}")).text()
        assert re.search(rf"{kind}-[a-z2-7]{{8}}", html), kind
        assert "lab-pc-01" not in html and "10.0.0.21" not in html and "10.0.0.5" not in html
    assert (await client.get("/ranking")).status == 403
