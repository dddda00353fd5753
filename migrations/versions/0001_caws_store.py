"""CAWS store: verdicts, candidates, violations, provenance chain, waivers, approvals, API keys, idempotency.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('rate_limit_per_min', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_sha256'),
    sa.UniqueConstraint('name')
    )
    op.create_table('chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('verdicts',
    sa.Column('verdict_id', sa.String(length=40), nullable=False),
    sa.Column('change_id', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('spec_id', sa.Text(), nullable=False),
    sa.Column('record_json', sa.Text(), nullable=False),
    sa.Column('principal', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('verdict_id')
    )
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verdicts_change_id'), ['change_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verdicts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_verdicts_status'), ['status'], unique=False)

    op.create_table('waivers',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('applies_to', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('doc_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('waivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waivers_applies_to'), ['applies_to'], unique=False)

    op.create_table('approvals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('waiver_id', sa.String(length=16), nullable=False),
    sa.Column('handle', sa.Text(), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['waiver_id'], ['waivers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('waiver_id', 'handle')
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_waiver_id'), ['waiver_id'], unique=False)

    op.create_table('candidates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('verdict_id', sa.String(length=40), nullable=False),
    sa.Column('candidate_id', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('judge_score', sa.Float(), nullable=False),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['verdict_id'], ['verdicts.verdict_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('verdict_id', 'candidate_id')
    )
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidates_verdict_id'), ['verdict_id'], unique=False)

    op.create_table('idempotency_records',
    sa.Column('scope_key', sa.String(length=300), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('verdict_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['verdict_id'], ['verdicts.verdict_id'], ),
    sa.PrimaryKeyConstraint('scope_key')
    )
    op.create_table('provenance_entries',
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('verdict_id', sa.String(length=40), nullable=False),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['verdict_id'], ['verdicts.verdict_id'], ),
    sa.PrimaryKeyConstraint('index'),
    sa.UniqueConstraint('hash'),
    sa.UniqueConstraint('verdict_id')
    )
    op.create_table('violations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('verdict_id', sa.String(length=40), nullable=False),
    sa.Column('gate', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('waived_by', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['verdict_id'], ['verdicts.verdict_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violations_verdict_id'), ['verdict_id'], unique=False)

    chain_head = sa.table("chain_head", sa.column("id", sa.Integer), sa.column("length", sa.Integer),
                          sa.column("head_hash", sa.String))
    op.bulk_insert(chain_head, [{"id": 1, "length": 0, "head_hash": GENESIS}])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violations_verdict_id'))

    op.drop_table('violations')
    op.drop_table('provenance_entries')
    op.drop_table('idempotency_records')
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidates_verdict_id'))

    op.drop_table('candidates')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_waiver_id'))

    op.drop_table('approvals')
    with op.batch_alter_table('waivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waivers_applies_to'))

    op.drop_table('waivers')
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verdicts_status'))
        batch_op.drop_index(batch_op.f('ix_verdicts_created_at'))
        batch_op.drop_index(batch_op.f('ix_verdicts_change_id'))

    op.drop_table('verdicts')
    op.drop_table('chain_head')
    op.drop_table('api_keys')
