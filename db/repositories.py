"""The one repository object the application uses: people, samples/embeddings/centroids and attendance.

Every public method opens its own session and transaction, so a ``Repository`` may be shared between threads;
it returns plain frozen dataclasses from :mod:`db.records`, never ORM objects.
"""

from __future__ import annotations

from db.attendance import AttendanceRepository
from db.people import PeopleRepository
from db.samples import SampleRepository


class Repository(PeopleRepository, SampleRepository, AttendanceRepository):
    """All of Rollcall's storage operations over one :class:`~db.database.Database`."""
