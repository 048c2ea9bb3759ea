"""``kosodate staff ...``: staff accounts from the command line — the first administrator, LINE-link invitations,
a list, and the way back in when the last administrator is locked out. Passwords are prompted, or read from
standard input with ``--password-stdin`` (for scripts), never arguments (they would stay in the shell history).

The group is a Flask ``AppGroup``: its commands run inside the app, whose creation opens the database
(``storage.db.init_engine``). A plain ``click.group`` here ran them without it, and every one failed in a real shell."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from storage import audit, staff
from storage.db import unit_of_work
from storage.models.staff import CENTRES, ROLES


def _password(from_stdin: bool, login: str) -> str:
    if from_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = staff.password_problem(password, login=login)
    if problem:
        raise click.ClickException(
            f"password refused ({staff.PASSWORD_MIN}-{staff.PASSWORD_MAX} characters, "
            "not one character repeated, not a common password, not containing the login)"
        )
    return password


def _member(session, login: str):
    found = staff.by_login(session, login)
    if found is None:
        raise click.ClickException("no staff member with that login")
    return found


PASSWORD_STDIN = click.option(
    "--password-stdin",
    "password_stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)


@click.group("staff", cls=AppGroup)
def staff_group() -> None:
    """Staff accounts of the web console (/staff)."""


@staff_group.command("create")
@click.option("--name", required=True, help="Display name, e.g. 地域 太郎")
@click.option("--login", required=True, help="Sign-in name (a work e-mail address)")
@click.option("--centre", type=click.Choice(CENTRES), default="division", show_default=True)
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@PASSWORD_STDIN
def create(name: str, login: str, centre: str, role: str, password_stdin: bool) -> None:
    """Create a staff account (by default the division's administrator); the password is prompted."""
    password = _password(password_stdin, login)
    with unit_of_work() as session:
        if staff.login_taken(session, login):
            raise click.ClickException("that login is already used")
        member = staff.create_member(session, name=name, login=login, centre=centre, role=role, password=password)
        audit.record(
            session,
            action="staff.create",
            actor_label="cli",
            subject_type="staff",
            subject_id=member.id,
            details={"role": role, "centre": centre},
        )
        click.echo(f"created staff member {member.id} ({role}, {centre})")


@staff_group.command("invite")
@click.argument("login")
def invite(login: str) -> None:
    """Print a one-time code (valid 24 hours) that links the member's LINE account when sent to the bot."""
    with unit_of_work() as session:
        member = _member(session, login)
        if not member.active:
            raise click.ClickException("that account is disabled")
        code = staff.create_invite(session, member)
        audit.record(session, action="staff.invite", actor_label="cli", subject_type="staff", subject_id=member.id)
    click.echo(f"Send this code to the bot in LINE within {int(staff.INVITE_LIFETIME.total_seconds() // 3600)} hours:")
    click.echo(code)


@staff_group.command("list")
def list_members() -> None:
    """Every staff account: id, role, centre, active, second factor."""
    with unit_of_work() as session:
        for m in staff.members(session):
            flags = ",".join(
                f
                for f, on in (
                    ("active", m.active),
                    ("totp", m.totp_enabled),
                    ("line", m.line_user_pk is not None),
                    ("on-duty", m.on_duty),
                )
                if on
            )
            click.echo(f"{m.id:4} {m.role:7} {m.centre:13} {m.login}  [{flags}]")


@staff_group.command("password")
@click.argument("login")
@PASSWORD_STDIN
def set_password(login: str, password_stdin: bool) -> None:
    """Set a new password (prompted), re-enable the account and end its sessions."""
    password = _password(password_stdin, login)
    with unit_of_work() as session:
        member = _member(session, login)
        staff.set_password(member, password)
        staff.set_active(session, member, True)
        staff.end_all_sessions(session, member.id, "password")
        audit.record(
            session, action="staff.password_reset", actor_label="cli", subject_type="staff", subject_id=member.id
        )
    click.echo("password set")


@staff_group.command("unlock")
@click.argument("login")
def unlock(login: str) -> None:
    """Lift the sign-in delays of an account from every address (audited), e.g. after a colleague's typos."""
    from bot.staff.auth import account_key
    from storage import login_throttle

    with unit_of_work() as session:
        member = _member(session, login)
        lifted = login_throttle.clear(session, account_key(member.login))
        audit.record(
            session,
            action="staff.unlock",
            actor_label="cli",
            subject_type="staff",
            subject_id=member.id,
            details={"addresses": lifted},
        )
    click.echo(f"sign-in delays lifted (failures from {lifted} address(es) forgotten)")
