"""A row read before an erasure and saved after it must not put the erased number back."""

from pathlib import Path

from laporgub import db


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
