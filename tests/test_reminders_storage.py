"""storage/reminders.py answers "is this participant in good standing?" for thousands at once; it must answer exactly
as the one rule everything else asks, ``storage.enrollments.refusal``."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from storage import enrollments, events, join_links, sanctions
from storage import reminders as participants
from storage.clock import now
from storage.db import unit_of_work
from storage.models import Enrollment, LineUser, Sanction
from tests.events_support import bar, give_consent, make_event, make_parent


def test_the_batch_answer_is_the_same_as_the_one_rule_for_every_kind_of_participant(app):
    with unit_of_work() as session:
        event, other = make_event(session), make_event(session)
        draft = make_event(session, publish=False)
        cases = {}

        def enrolled(name, event_=event, **parent):
            p = make_parent(session, **parent)
            cases[name] = enrollments.apply(session, event_, p.id).enrollment
            return p

        enrolled("in good standing")
        enrolled("withdrawn")
        enrollments.withdraw(session, cases["withdrawn"])
        enrolled("never consented", consent=False)
        declined = enrolled("declined the policy")
        give_consent(session, declined, "declined")
        took_back = enrolled("withdrew consent")
        give_consent(session, took_back, "withdrawn")
        bar(session, enrolled("barred from this event"), event.id)
        bar(session, enrolled("barred from everything"))
        bar(session, enrolled("barred from another event"), other.id)
        ended = enrolled("bar ended yesterday")
        sanctions.impose(
            session,
            ended.id,
            policy_items=["6-(4)"],
            created_by="test",
            until=date.fromordinal(now().date().toordinal() - 2),
        )
        lifted = enrolled("bar lifted")
        bar(session, lifted)
        sanctions.lift(
            session, session.scalar(select(Sanction.id).where(Sanction.parent_id == lifted.id)), lifted_by="test"
        )
        enrolled("event not published", draft)
        cancelled = make_event(session)
        enrolled("event cancelled", cancelled)
        events.cancel(session, cancelled)
        finished = make_event(session, starts_in=-timedelta(hours=3))
        enrolled("event over", finished)
        finished.status = "finished"
        ids = {name: e.id for name, e in cases.items()}

    with unit_of_work() as session:
        batch = participants.by_enrollment(session, ids.values())
        answers = {
            name: (enrollments.refusal(session, session.get(Enrollment, i)), batch[i].refusal)
            for name, i in ids.items()
        }
    assert all(one == other for one, other in answers.values()), answers
    assert {name for name, (one, _) in answers.items() if one is None} == {
        "in good standing",
        "barred from another event",
        "bar ended yesterday",
        "bar lifted",
    }
    assert len({one for one, _ in answers.values()}) == 7  # every refusal the rule knows was exercised


def test_only_participants_who_still_follow_and_have_a_live_link_get_reminders(app):
    with unit_of_work() as session:
        event = make_event(session)
        blocked, unlinked = (make_parent(session) for _ in range(2))
        ids = [enrollments.apply(session, event, p.id).enrollment.id for p in (blocked, unlinked)]
        session.get(LineUser, blocked.line_user_pk).status = "blocked"
        join_links.revoke(session, ids[1], "lost")
    with unit_of_work() as session:
        found = participants.by_enrollment(session, ids)
    assert [found[i].refusal for i in ids] == ["blocked", "no_link"]
