"""Brand mentions triaged like events, through the real app against a real SQLite store: the
Prevent lead sets a mention's review status and notes, each recorded in the audit trail
(`mention:N`); communications staff read the status and trail but not notes, and cannot triage."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from monitor.store.models import AuditEntry, BrandMention

LEAD, COMMS = "prevent_lead", "comms"


async def triage(client: TestClient[Any, Any], mention_id: int, csrf: str, **form: str) -> str:
    response = await client.post(
        f"/mentions/{mention_id}/triage", data={"csrf_token": csrf, **form},
        allow_redirects=False,
    )  # fmt: skip
    assert response.status == 303
    assert response.headers["Location"] == f"/mentions/{mention_id}"
    page = await client.get(f"/mentions/{mention_id}")
    return await page.text()


async def test_the_prevent_lead_triages_a_mention(
    client: TestClient[Any, Any], store: Any, login: Any, new_mention: Any
) -> None:
    mention_id = new_mention(state="backlog")
    csrf = await login(client, LEAD)
    page = await client.get(f"/mentions/{mention_id}")
    text = await page.text()
    assert page.status == 200
    assert f'action="/mentions/{mention_id}/triage"' in text
    assert "St Aidan&#39;s Academy in the news" in text

    text = await triage(client, mention_id, csrf, status="in_review", note="names pupil.zed")
    assert "Saved: status in review, note added." not in text  # a note goes with the change
    assert "Saved: status in review." in text
    assert "names pupil.zed" in text  # the lead reads notes
    text = await triage(client, mention_id, csrf, status="referred")
    assert "a referral needs its reference" in text
    text = await triage(client, mention_id, csrf, status="referred", referral_ref="CTP-2026-9")
    assert "Saved: status referred." in text and "Referral: CTP-2026-9" in text
    text = await triage(client, mention_id, csrf, status="referred", note="police replied")
    assert "Saved: note added." in text
    text = await triage(client, mention_id, csrf, status="nonsense")
    assert "unknown review status" in text

    with store.sessions() as session:
        mention = session.get(BrandMention, mention_id)
        assert (mention.review_status, mention.state) == ("referred", "backlog")
        trail = session.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"mention:{mention_id}")
        ).all()
    assert [(a.actor, a.action, a.to_value) for a in trail] == [
        ("prevent.lead", "status", "in_review"), ("prevent.lead", "status", "referred"),
        ("prevent.lead", "note", None),
    ]  # fmt: skip
    assert all(a.event_id is None for a in trail)

    listing = await (await client.get("/mentions?review=referred")).text()
    assert f'href="/mentions/{mention_id}">Referred</a>' in listing
    assert "St Aidan" not in await (await client.get("/mentions?review=dismissed")).text()


async def test_comms_read_the_review_but_neither_notes_nor_triage(
    client: TestClient[Any, Any], store: Any, login: Any, new_mention: Any
) -> None:
    mention_id = new_mention()
    lead = await login(client, LEAD)
    await triage(client, mention_id, lead, status="dismissed", note="names pupil.zed")
    await client.post("/logout", data={"csrf_token": lead})
    client.session.cookie_jar.clear()

    csrf = await login(client, COMMS)
    text = await (await client.get(f"/mentions/{mention_id}")).text()
    assert "Dismissed" in text and "prevent.lead" in text  # the trail: who and what
    assert "pupil.zed" not in text  # a note can name a pupil
    assert "/triage" not in text
    response = await client.post(
        f"/mentions/{mention_id}/triage",
        data={"csrf_token": csrf, "status": "new"},
        allow_redirects=False,
    )
    assert response.status == 403
    with store.sessions() as session:
        assert session.get(BrandMention, mention_id).review_status == "dismissed"


async def test_a_missing_mention(client: TestClient[Any, Any], login: Any) -> None:
    csrf = await login(client, LEAD)
    assert (await client.get("/mentions/424242")).status == 404
    assert (await client.get("/mentions/abc")).status == 404
    text = await triage(client, 424242, csrf, status="dismissed")
    assert text  # the 404 page after the redirect
    response = await client.post(
        "/mentions/424242/triage", data={"csrf_token": csrf, "status": "dismissed"},
        allow_redirects=True,
    )  # fmt: skip
    assert response.status == 404


async def test_the_annual_review_counts_mentions_by_review(
    client: TestClient[Any, Any], login: Any, new_mention: Any
) -> None:
    ids = [new_mention() for _ in range(3)]
    csrf = await login(client, LEAD)
    await triage(client, ids[0], csrf, status="dismissed")
    await triage(client, ids[1], csrf, status="closed_no_concern", note="names pupil.zed")
    text = await (await client.get("/annual-review")).text()
    assert "Brand mentions, by review" in text
    for name in ("<td>New</td><td>1</td>", "<td>Dismissed</td><td>1</td>",
                 "<td>Reviewed: no action</td><td>1</td>"):  # fmt: skip
        assert name in text
    csv_text = await (await client.get("/annual-review.csv")).text()
    assert "brand mentions,dismissed,Dismissed,1," in csv_text
    assert "brand mentions,new,New,1," in csv_text
    assert "pupil.zed" not in text and "pupil.zed" not in csv_text
