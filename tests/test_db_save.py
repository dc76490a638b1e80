"""A row read before an erasure and saved after it must not put the erased number back."""

from pathlib import Path

import pytest

from laporgub import db
from tests.conftest import PG_ADMIN_URL


def test_save_changes_writes_only_what_was_set(tmp_path: Path) -> None:
    db.open_database(f"sqlite:///{tmp_path / 'save.db'}")
    with db.database.connection_context():
        db.Ticket.create(number="261128-0200-1", day="261128", four="0200", seq=1, sender="+6281234560200",
                         text="Jalan rusak di depan rumah 081234560200", received_at=1.0, registered_at=1.0,
                         updated_at=1.0)
        held = db.Ticket.get()  # an actor read the ticket ...
        # ... an erasure anonymises it meanwhile ...
        db.Ticket.update(sender=None, text="Jalan rusak di depan rumah 0812****0200", anonymised_at=2.0).execute()
        held.status, held.updated_at = "responded", 3.0  # ... and the actor then records its change
        db.save_changes(held)
        now = db.Ticket.get()
        assert (now.status, now.updated_at) == ("responded", 3.0)
        assert now.sender is None and "081234560200" not in now.text and now.anonymised_at == 2.0
        db.save_changes(now)  # nothing set: nothing written, no error


@pytest.mark.parametrize("where", ["this database", "another database"])
def test_erasure_vacuum_waits_for_a_writing_transaction_between_statements(pg_url: str, where: str) -> None:
    """A transaction that wrote and sits between two statements has no snapshot (backend_xmin is
    empty) but its transaction id still keeps the erased row versions alive: in this database, and
    from another one too (every new snapshot, the vacuum's own, takes the server's oldest running
    transaction as its xmin). The purge must see it, say the vacuum was incomplete while it stays
    open, and clean up once it ended."""
    import psycopg2

    from laporgub import privacy

    db.open_database(pg_url)
    with db.database.connection_context():
        db.database.execute_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        db.Ticket.create(number="261128-0200-1", day="261128", four="0200", seq=1, sender="+6281234560200",
                         text="Jalan rusak", received_at=1.0, registered_at=1.0, updated_at=1.0)
        other = psycopg2.connect(pg_url if where == "this database" else PG_ADMIN_URL)
        try:
            other.cursor().execute("SELECT txid_current()")  # a transaction id, then idle between statements
            db.Ticket.update(sender=None).execute()  # the erasure, committed while `other` is open

            def sender_in_pages() -> bool:
                blocks = db.database.execute_sql(
                    "SELECT pg_relation_size('ticket') / current_setting('block_size')::int").fetchone()[0]
                return any(b"+6281234560200" in bytes(db.database.execute_sql(
                    "SELECT get_raw_page('ticket', %s)", (block,)).fetchone()[0]) for block in range(blocks))

            assert privacy.purge_freed(["ticket"], attempts=1).startswith("vacuum incomplete")
            assert sender_in_pages()  # what the waiting is for
        finally:
            other.rollback()
            other.close()
        assert privacy.purge_freed(["ticket"]) == "vacuumed"  # (other tests' databases may be busy: ~30 s)
        assert not sender_in_pages()
