"""The `policy_versions` table: every recorded version of the policy's files (migration 0012).

Kept apart from `monitor.store.models` (which re-exports `PolicyRevision`) so each table module
stays one screenful; `monitor.store.policyversions` holds the functions that read and write it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.modelbase import Base, BigID, UTCDateTime, school_column


class PolicyRevision(Base):
    """One version of the policy's files as the console recorded it: who, when, why, which
    files changed, the unified diff against the version before, and the full text of the files
    it keeps (at most 2 MB), so any version can be restored.

    `school` is the console's own school (the deployment whose files these are), not the
    account's: one trust store can hold the histories of several schools' consoles. The table
    is not in the school scope (`monitor.store.scope`); its functions filter by it explicitly.
    `number` counts 1, 2, 3 ... per school; unique, so two consoles saving on top of the same
    version at once cannot both succeed."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    school: Mapped[str] = school_column()
    number: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # first | edit | rollback | outside | unblock
    actor: Mapped[str | None] = mapped_column(String(128))  # None: changed outside the console
    reason: Mapped[str] = mapped_column(Text)  # why, as the person who made it said
    summary: Mapped[str] = mapped_column(Text)  # what changed, in words
    changed: Mapped[str] = mapped_column(Text)  # JSON list of the files that changed
    diff: Mapped[str] = mapped_column(Text)  # unified diff of the kept texts
    policy_hash: Mapped[str] = mapped_column(String(64))  # filters' version of all the files
    files: Mapped[str] = mapped_column(Text)  # JSON {path: {sha256, size, text|null, note}}
    based_on: Mapped[int | None] = mapped_column(Integer)  # the number this was made from
    rolled_back_to: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("school", "number"),)
