"""People: add, find, list, rename, re-identify and remove."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

from numpy.typing import ArrayLike
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.errors import DuplicateError, InvalidInput, NotFound
from db._common import (
    PEOPLE_HINT,
    RepositoryBase,
    bump_gallery,
    clean_external_id,
    clean_name,
    shorten,
    insert_samples,
    one_person_record,
    person_records,
    person_row,
    utcnow,
)
from db.records import NewSample, PersonRecord
from db.schema import FaceSample, Person


def _check_external_id_free(s: Session, external_id: Optional[str], person_id: Optional[int] = None) -> None:
    """Raise DuplicateError naming whoever else already has ``external_id``."""
    if external_id is None:
        return
    owner = s.scalar(select(Person).where(Person.external_id == external_id))
    if owner is not None and owner.id != person_id:
        raise DuplicateError(
            f"external id {external_id!r} already belongs to {owner.name} (id {owner.id}); "
            "use another id, or change theirs first"
        )


class PeopleRepository(RepositoryBase):
    """Stores people; each method is one transaction."""

    def add_person(
        self,
        name: str,
        external_id: Optional[str] = None,
        samples: Sequence[NewSample] = (),
        embeddings: Optional[Mapping[str, ArrayLike]] = None,
    ) -> PersonRecord:
        """Add a person with their face samples, embeddings and centroids, all or nothing.

        Args:
            name: display name (need not be unique).
            external_id: e.g. a student number; must be unique when given.
            samples: aligned face crops to store.
            embeddings: ``{backend: array of shape (len(samples), D)}``, row ``i`` embedding ``samples[i]``.

        Returns:
            The stored person.

        Raises:
            InvalidInput: blank name, malformed sample or embeddings.
            DuplicateError: ``external_id`` already belongs to someone.
        """
        checked = clean_name(name, "name")
        clean_id = clean_external_id(external_id)
        try:
            with self._db.session() as s:
                _check_external_id_free(s, clean_id)
                person = Person(name=checked, external_id=clean_id, created_at=utcnow())
                s.add(person)
                s.flush()
                insert_samples(s, person.id, samples, embeddings or {})
                return one_person_record(s, person.id)
        except IntegrityError as exc:  # another process took the id between our check and our insert
            raise DuplicateError(f"external id {shorten(clean_id)!r} is already taken; use another id") from exc

    def get_person(self, person_id: int) -> PersonRecord:
        """The person with ``person_id``.

        Raises:
            NotFound: no such person.
        """
        with self._db.session(write=False) as s:
            return one_person_record(s, person_id)

    def find_person(self, text: str) -> PersonRecord:
        """The person a user means by ``text``: an external id, else an exact name (any case), else an id.

        Args:
            text: what the user typed.

        Returns:
            The one matching person.

        Raises:
            InvalidInput: several people have that name (the message lists their ids).
            NotFound: nobody matches.
        """
        key = (text or "").strip()
        with self._db.session(write=False) as s:
            by_external = person_records(s, Person.external_id == key)
            if by_external:
                return by_external[0]
            folded = key.casefold()
            named = [p for p in person_records(s) if p.name.casefold() == folded]
            if len(named) > 1:
                listing = ", ".join(f"{p.name} (id {p.id})" for p in named)
                raise InvalidInput(f"several people are named {shorten(key)!r}: {listing}; use the id instead")
            if named:
                return named[0]
            if key.isdigit():
                by_id = person_records(s, Person.id == int(key))
                if by_id:
                    return by_id[0]
        raise NotFound(f"no person named or with id {shorten(key)!r}; {PEOPLE_HINT}")

    def list_people(self, search: Optional[str] = None) -> list[PersonRecord]:
        """Everyone, ordered by name (case-insensitively), optionally filtered.

        Args:
            search: keep people whose name or external id contains this text, ignoring case.

        Returns:
            The matching people.
        """
        with self._db.session(write=False) as s:
            people = person_records(s)
        if search and search.strip():
            needle = search.strip().casefold()
            people = [
                p for p in people if needle in p.name.casefold() or needle in (p.external_id or "").casefold()
            ]
        return sorted(people, key=lambda p: (p.name.casefold(), p.id))

    def rename_person(self, person_id: int, name: str) -> PersonRecord:
        """Change a person's display name (past attendance events keep the old name).

        Raises:
            InvalidInput: blank name.
            NotFound: no such person.
        """
        checked = clean_name(name, "name")
        with self._db.session() as s:
            person_row(s, person_id).name = checked
            bump_gallery(s)  # stations show the new name
            s.flush()
            return one_person_record(s, person_id)

    def set_external_id(self, person_id: int, external_id: Optional[str]) -> PersonRecord:
        """Set or clear (``None`` or blank) a person's external id.

        Raises:
            DuplicateError: someone else already has it (the message names them).
            NotFound: no such person.
        """
        clean_id = clean_external_id(external_id)
        try:
            with self._db.session() as s:
                row = person_row(s, person_id)
                _check_external_id_free(s, clean_id, person_id)
                row.external_id = clean_id
                s.flush()
                return one_person_record(s, person_id)
        except IntegrityError as exc:
            raise DuplicateError(f"external id {shorten(clean_id)!r} is already taken; use another id") from exc

    def remove_person(self, person_id: int) -> None:
        """Erase a person with their samples, embeddings and centroids.

        Their attendance events stay, keeping the name and external id they had, with no person id. With
        ``PRAGMA secure_delete`` on, the erased rows are overwritten with zeros, and the write-ahead log is
        checkpointed and truncated afterwards, so no copy of their crops or vectors stays in any file (unless
        another process is in the middle of a read; the WAL is then emptied by a later write).

        Raises:
            NotFound: no such person.
        """
        with self._db.session() as s:
            person_row(s, person_id)
            s.execute(delete(Person).where(Person.id == person_id))
            bump_gallery(s)  # other stations forget them
        self._db.checkpoint()  # secure_delete overwrote their rows; this empties the WAL's old copies

    def person_thumbnail(self, person_id: int) -> Optional[bytes]:
        """The JPEG bytes of the person's first sample, or ``None`` if they have none.

        Raises:
            NotFound: no such person.
        """
        with self._db.session(write=False) as s:
            person_row(s, person_id)
            return s.scalar(
                select(FaceSample.image).where(FaceSample.person_id == person_id).order_by(FaceSample.id).limit(1)
            )
