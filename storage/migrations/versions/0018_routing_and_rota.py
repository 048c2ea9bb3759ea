"""routing and rota: escalation addresses per centre, the duty rota and its dated exceptions; 当番 becomes an
override of the rota (NULL: follow the rota)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("removed_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_members.id"],
            name=op.f("fk_routing_channels_created_by_staff_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_channels")),
    )
    with op.batch_alter_table("routing_channels", schema=None) as batch_op:
        batch_op.create_index("ix_routing_channels_centre", ["centre", "removed_at"], unique=False)

    op.create_table(
        "duty_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre", sa.String(length=20), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("starts_minute", sa.Integer(), nullable=False),
        sa.Column("ends_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_members.id"], name=op.f("fk_duty_slots_staff_id_staff_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_slots")),
    )
    with op.batch_alter_table("duty_slots", schema=None) as batch_op:
        batch_op.create_index("ix_duty_slots_centre_weekday", ["centre", "weekday"], unique=False)
        batch_op.create_index(batch_op.f("ix_duty_slots_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "duty_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_duty_exceptions_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["staff_members.id"],
            name=op.f("fk_duty_exceptions_replaces_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_exceptions")),
    )
    with op.batch_alter_table("duty_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_duty_exceptions_centre_day", ["centre", "day"], unique=False)

    with op.batch_alter_table("escalation_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_escalation_notifications_route_id_routing_channels"),
            "routing_channels",
            ["route_id"],
            ["id"],
        )

    # 当番 was on/off with off as the default; now the rota is the default and on/off an override. Members who had
    # switched it on keep receiving escalations at any hour; the others follow the rota.
    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.alter_column("on_duty", existing_type=sa.Boolean(), nullable=True)
    op.execute(sa.text("UPDATE staff_members SET on_duty = NULL WHERE on_duty = :off").bindparams(off=False))


def downgrade() -> None:
    op.execute(sa.text("UPDATE staff_members SET on_duty = :off WHERE on_duty IS NULL").bindparams(off=False))
    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.alter_column("on_duty", existing_type=sa.Boolean(), nullable=False)
    with op.batch_alter_table("escalation_notifications", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_escalation_notifications_route_id_routing_channels"), type_="foreignkey"
        )
        batch_op.drop_column("route_id")
    op.drop_table("duty_exceptions")
    op.drop_table("duty_slots")
    op.drop_table("routing_channels")
