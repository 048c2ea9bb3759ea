"""The 当番・通知先 page: administrators set a centre's addresses (audited; webhook URLs https only, shown without
their secret part), centre staff set their centre's rota, exceptions and overrides, and nobody edits another
centre's."""

from __future__ import annotations

from sqlalchemy import select

from storage import routing
from storage.db import unit_of_work
from storage.models import AuditEvent, DutyException, DutySlot, StaffMember
from tests.scheduler_support import clock  # noqa: F401 (the fixture)


def audited(action: str) -> list[AuditEvent]:
    with unit_of_work() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_administrator_adds_a_centres_webhook_which_is_stored_sealed_shown_by_host_and_audited(console, csrf_token):
    client, admin = console("admin", "division")
    token = csrf_token(client, "/staff/routing/takanedai")
    refused = client.post(
        "/staff/routing/takanedai/routes",
        data={"csrf_token": token, "channel": "webhook", "address": "http://hooks.example.com/T0/secret"},
    )
    assert refused.status_code == 400 and "https://" in refused.get_data(as_text=True)
    added = client.post(
        "/staff/routing/takanedai/routes",
        data={"csrf_token": token, "channel": "webhook", "address": "https://hooks.example.com/T0/secret"},
    )
    assert added.status_code == 302
    page = client.get("/staff/routing/takanedai").get_data(as_text=True)
    assert "https://hooks.example.com/…" in page and "secret" not in page
    with unit_of_work() as s:
        [route] = routing.routes(s, "takanedai")
    assert route.address == "https://hooks.example.com/T0/secret"
    [entry] = audited("routing.route_added")
    assert entry.details == {"centre": "takanedai", "channel": "webhook"} and entry.actor_staff_id == admin.id
    assert (
        client.post(f"/staff/routing/takanedai/routes/{route.id}/remove", data={"csrf_token": token}).status_code == 302
    )
    assert audited("routing.route_removed")


def test_centre_staff_set_their_rota_but_not_addresses_nor_another_centre(console, csrf_token, clock):
    client, member = console("staff", "minamihoncho")
    token = csrf_token(client, "/staff/routing/minamihoncho")
    assert (
        client.post(
            "/staff/routing/minamihoncho/routes",
            data={"csrf_token": token, "channel": "email", "address": "x@city.example"},
        ).status_code
        == 403
    )
    assert client.get("/staff/routing/takanedai").status_code == 404
    slot = {"csrf_token": token, "staff_id": member.id, "weekdays": ["0", "2"], "starts": "9:00", "ends": "17:30"}
    assert client.post("/staff/routing/takanedai/slots", data=slot).status_code == 404
    backwards = client.post("/staff/routing/minamihoncho/slots", data={**slot, "starts": "18:00"})
    assert backwards.status_code == 400 and "終わりの時刻" in backwards.get_data(as_text=True)
    assert client.post("/staff/routing/minamihoncho/slots", data=slot).status_code == 302
    with unit_of_work() as s:
        slots = list(s.scalars(select(DutySlot)))
    assert [(d.weekday, d.starts_minute, d.ends_minute) for d in slots] == [(0, 540, 1050), (2, 540, 1050)]
    page = client.get("/staff/routing/minamihoncho").get_data(as_text=True)
    assert "9:00〜17:30" in page and "海の日" in page  # the holidays of the next 90 days are listed
    assert (
        client.post(
            "/staff/routing/minamihoncho/exceptions",
            data={"csrf_token": token, "day": "2030-06-10", "kind": "closed", "staff_id": "0", "replaces_id": "0"},
        ).status_code
        == 302
    )
    with unit_of_work() as s:
        assert [(e.day.isoformat(), e.kind) for e in s.scalars(select(DutyException))] == [("2030-06-10", "closed")]
    assert (
        client.post(
            "/staff/routing/minamihoncho/overrides", data={"csrf_token": token, "staff_id": member.id, "value": "off"}
        ).status_code
        == 302
    )
    with unit_of_work() as s:
        assert s.get(StaffMember, member.id).on_duty is False
    assert [a.action for a in audited("rota.slot_added")] == ["rota.slot_added"]
    assert audited("rota.exception_added") and audited("staff.on_duty")


def test_the_page_is_in_the_consoles_menu_not_only_in_the_unreachable_banner(console):
    client, _ = console("staff", "minamihoncho")
    page = client.get("/staff/today").get_data(as_text=True)
    menu = page[page.index('<nav class="mainnav"') : page.index("</nav>")]
    assert 'href="/staff/routing"' in menu and "当番・通知先" in menu


def test_a_viewer_reads_the_page_but_changes_nothing(console, csrf_token):
    client, member = console("viewer", "minamihoncho")
    page = client.get("/staff/routing/minamihoncho").get_data(as_text=True)
    assert "当番表" in page and "当番表に追加" not in page
    token = csrf_token(client, "/staff/routing/minamihoncho")
    assert (
        client.post(
            "/staff/routing/minamihoncho/overrides", data={"csrf_token": token, "staff_id": member.id, "value": "on"}
        ).status_code
        == 403
    )
