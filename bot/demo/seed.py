"""Demo data for a fresh ``kosodate demo`` database, so the simulator has something to show at once.

Each area keeps its seeding here as ``seed_<area>(session, now)`` (events: ``seed_events``) and lists it in
``SEEDERS``; ``seed`` runs those that exist, in order, inside the caller's unit of work.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from storage.clock import now as clock_now

SEEDERS = ("seed_events", "seed_staff")


def seed(session: Session, now: datetime | None = None) -> list[str]:
    """Run every seeding function this module has; returns their names."""
    at = now or clock_now()
    done = []
    for name in SEEDERS:
        seeder = globals().get(name)
        if seeder is not None:
            seeder(session, at)
            done.append(name)
    return done


# --- events (issue #4) ----------------------------------------------------------------------------------------
# Demo web-conference details: an example.com address, so nothing real is ever shown in a demo.
DEMO_CONFERENCE = {
    "conference_service": "Zoom",
    "join_url": "https://meeting.example.com/j/81234567890",
    "meeting_id": "812 3456 7890",
    "passcode": "demo2026",
}


def _tokyo(moment: datetime, days: int, hour: int, minute: int = 0) -> datetime:
    from datetime import timedelta

    from storage.clock import TOKYO, to_tokyo

    day = to_tokyo(moment).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def seed_events(session: Session, now: datetime) -> list[int]:
    """A few published events at each centre: one starting in about 12 minutes (its join page already shows how
    to join), a full one with a single place (to try the waitlist), one that needs staff approval, one for pregnant
    people, and one whose applications open tomorrow. Returns the events' ids."""
    from datetime import timedelta

    from storage import events

    minute = timedelta(minutes=1)
    soon = now.replace(second=0, microsecond=0) + 12 * minute
    plans = [
        dict(
            centre="division",
            kind="class",
            title="はじめての離乳食講座（オンライン）",
            description="離乳食の始めかた・進めかたを、栄養士がお話しします。質問の時間もあります。",
            starts_at=soon,
            ends_at=soon + 60 * minute,
            capacity=20,
            target_min_months=4,
            target_max_months=8,
        ),
        dict(
            centre="minamihoncho",
            kind="meetup",
            title="ねんねの赤ちゃん交流会",
            description="ねんねの頃の赤ちゃんと保護者の交流会です。カメラはオフでも大丈夫です。",
            starts_at=_tokyo(now, 2, 10, 30),
            ends_at=_tokyo(now, 2, 11, 30),
            capacity=10,
            target_min_months=0,
            target_max_months=6,
        ),
        dict(
            centre="minamihoncho",
            kind="consultation",
            title="子育て相談（個別・20分）",
            description="子育ての心配ごとを、保育士が1対1でうかがいます。お申し込みのあと、日程を確認してご連絡します。",
            starts_at=_tokyo(now, 3, 14, 0),
            ends_at=_tokyo(now, 3, 14, 20),
            capacity=1,
            needs_approval=True,
        ),
        dict(
            centre="takanedai",
            kind="meetup",
            title="よちよち歩きさんの交流会",
            description="1歳から2歳のお子さんと保護者の交流会です。手あそびもします。",
            starts_at=_tokyo(now, 4, 10, 30),
            ends_at=_tokyo(now, 4, 11, 30),
            capacity=12,
            target_min_months=12,
            target_max_months=23,
        ),
        dict(
            centre="takanedai",
            kind="class",
            title="プレママ・プレパパ講座",
            description="出産前に知っておきたい赤ちゃんとの暮らしを、助産師がお話しします。",
            starts_at=_tokyo(now, 6, 13, 30),
            ends_at=_tokyo(now, 6, 15, 0),
            capacity=15,
            target_pregnant=True,
        ),
        dict(
            centre="division",
            kind="meetup",
            title="ふたごちゃん・みつごちゃんの交流会",
            description="多胎児を育てる保護者どうしの交流会です（定員1名のデモ用：キャンセル待ちを試せます）。",
            starts_at=_tokyo(now, 8, 10, 0),
            ends_at=_tokyo(now, 8, 11, 0),
            capacity=1,
        ),
        dict(
            centre="minamihoncho",
            kind="class",
            title="1歳からの手あそび・わらべうた講座",
            description="おうちで楽しめる手あそびを紹介します（申し込み受付は明日からです）。",
            starts_at=_tokyo(now, 14, 10, 30),
            ends_at=_tokyo(now, 14, 11, 30),
            capacity=15,
            target_min_months=12,
            target_max_months=35,
            applications_open_at=_tokyo(now, 1, 9, 0),
        ),
    ]
    created = []
    for plan in plans:
        plan.setdefault("applications_open_at", now - timedelta(days=3))
        plan.setdefault("applications_close_at", plan["starts_at"])
        plan.setdefault("needs_approval", False)
        event = events.create(session, **plan, **DEMO_CONFERENCE, created_by="demo")
        events.publish(session, event)
        events.mark_announced(event)  # a fresh demo has nobody to announce to
        created.append(event.id)
    return created


# --- staff in LINE (issue #6) -----------------------------------------------------------------------------------
def seed_staff(session: Session, now: datetime | None = None) -> int:
    """The demo staff member 「市職員 田中」 of the division, on duty, linked to the simulator's staff persona: switch
    the persona to 田中 to see a parent's loss report arrive, take it (対応します) and send an instruction. No
    password: the demo does not sign in to the console as 田中. Returns the staff member's id."""
    from bot.demo.simulator import BY_KEY
    from storage import staff, users

    user = users.get_or_create(session, BY_KEY["tanaka"].user_id)
    member = staff.by_login(session, "tanaka@demo.example") or staff.create_member(
        session, name="市職員 田中", login="tanaka@demo.example", centre="division", role="staff"
    )
    member.line_user_pk, member.on_duty = user.id, True
    return member.id


# --- the staff console's way in (issue #14) ----------------------------------------------------------------------
DEMO_ADMIN_LOGIN = "admin@demo.example"


def open_console(session: Session) -> tuple[str, str]:
    """The demo administrator 「デモ 管理者」 with a new random password, for this run of the demo only: called at each
    demo start (the banner prints the login and password); ``close_console`` disables the account when the demo
    stops. Nothing outside ``kosodate demo`` creates it. Returns (login, password)."""
    import secrets

    from storage import staff

    password = secrets.token_urlsafe(12)
    while staff.password_problem(password):  # a 16-character random string passes; this only guards the rules
        password = secrets.token_urlsafe(12)
    member = staff.by_login(session, DEMO_ADMIN_LOGIN)
    if member is None:
        staff.create_member(
            session, name="デモ 管理者", login=DEMO_ADMIN_LOGIN, centre="division", role="admin", password=password
        )
    else:
        staff.set_password(member, password)
        staff.set_active(session, member, True)
        staff.end_all_sessions(session, member.id, "password")
    return DEMO_ADMIN_LOGIN, password


def close_console(session: Session) -> None:
    """Disable the demo administrator: its printed password opens nothing once the demo has stopped."""
    from storage import staff

    member = staff.by_login(session, DEMO_ADMIN_LOGIN)
    if member is not None:
        staff.set_active(session, member, False)
