"""Face samples, their embeddings per backend, and the per-person centroids derived from them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy import delete, func, select

from common.errors import InvalidInput, NotFound
from db import _vectors
from db._common import (
    RepositoryBase,
    check_backend_dim,
    clean_text,
    insert_samples,
    person_row,
    recompute_centroids,
    sample_record,
)
from db.records import CentroidSet, NewSample, SampleRecord
from db.schema import Centroid, Embedding, FaceSample, Person


class SampleRepository(RepositoryBase):
    """Stores samples and embeddings and keeps centroids current; each method is one transaction."""

    def add_samples(
        self,
        person_id: int,
        samples: Sequence[NewSample],
        embeddings: Optional[Mapping[str, ArrayLike]] = None,
    ) -> list[SampleRecord]:
        """Add samples (and their embeddings) to a person and recompute their centroids, all or nothing.

        Args:
            person_id: whose samples they are.
            samples: aligned face crops.
            embeddings: ``{backend: array of shape (len(samples), D)}``.

        Returns:
            The stored samples, in the order given.

        Raises:
            NotFound: no such person.
            InvalidInput: a malformed sample or embedding matrix.
        """
        with self._db.session() as s:
            person_row(s, person_id)
            rows = insert_samples(s, person_id, samples, embeddings or {})
            return [sample_record(row) for row in rows]

    def owners_of_photos(self, hashes: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Which of these photo hashes (``NewSample.content_sha256``) are stored already, and for whom.

        Returns:
            ``{sha256: (person_id, person name)}`` for each hash that a stored sample came from.
        """
        wanted = sorted({h for h in hashes if h})
        if not wanted:
            return {}
        with self._db.session(write=False) as s:
            rows = s.execute(
                select(FaceSample.content_sha256, Person.id, Person.name)
                .join(Person, Person.id == FaceSample.person_id)
                .where(FaceSample.content_sha256.in_(wanted))
            ).all()
        return {sha: (pid, name) for sha, pid, name in rows}

    def list_samples(self, person_id: int) -> list[SampleRecord]:
        """A person's samples, oldest first.

        Raises:
            NotFound: no such person.
        """
        with self._db.session(write=False) as s:
            person_row(s, person_id)
            rows = s.scalars(select(FaceSample).where(FaceSample.person_id == person_id).order_by(FaceSample.id))
            return [sample_record(row) for row in rows]

    def remove_sample(self, sample_id: int) -> None:
        """Delete a sample and its embeddings, and recompute its person's centroids.

        Removing someone's last sample removes their centroids, so they are no longer recognised.

        Raises:
            NotFound: no such sample.
        """
        with self._db.session() as s:
            row = s.get(FaceSample, sample_id)
            if row is None:
                raise NotFound(
                    f"no face sample with id {sample_id} (removed already?); the People page shows each person's photos"
                )
            person_id = row.person_id
            s.execute(delete(FaceSample).where(FaceSample.id == sample_id))
            recompute_centroids(s, [person_id])
        self._db.checkpoint()  # no old copy of the crop stays in the write-ahead log

    def samples_missing_embedding(self, backend: str, batch: int = 64) -> Iterator[list[SampleRecord]]:
        """Samples that have no embedding for ``backend`` yet, in batches, oldest first.

        Each batch is read in its own short transaction, so callers may store embeddings between batches and
        stop at any time; running it again resumes where the work stopped. A sample the caller skips is not
        yielded again during the same iteration.

        Args:
            backend: the backend's registry key.
            batch: samples per list (at least 1).

        Yields:
            Lists of up to ``batch`` samples.

        Raises:
            InvalidInput: ``batch`` is below 1 or the backend name is blank.
        """
        name = clean_text(backend, "backend name", 50)
        if batch < 1:
            raise InvalidInput(f"batch size {batch} must be at least 1")
        after = 0
        while True:
            embedded = select(Embedding.sample_id).where(Embedding.backend == name)
            with self._db.session(write=False) as s:
                rows = s.scalars(
                    select(FaceSample)
                    .where(FaceSample.id > after, FaceSample.id.not_in(embedded))
                    .order_by(FaceSample.id)
                    .limit(batch)
                ).all()
                records = [sample_record(row) for row in rows]
            if not records:
                return
            after = records[-1].id
            yield records

    def store_embeddings(self, backend: str, vectors: Mapping[int, ArrayLike]) -> int:
        """Store (or replace) embeddings for samples, then recompute the affected centroids, all or nothing.

        Args:
            backend: the backend's registry key.
            vectors: ``{sample_id: vector of shape (D,)}``.

        Returns:
            How many embeddings were stored.

        Raises:
            InvalidInput: malformed vectors or a length that differs from the backend's stored vectors.
            NotFound: a sample id does not exist (e.g. deleted meanwhile).
        """
        name = clean_text(backend, "backend name", 50)
        ids = list(vectors)
        if not ids:
            return 0
        matrix = _vectors.check_matrix([np.asarray(vectors[i]).ravel() for i in ids], len(ids), name)
        with self._db.session() as s:
            owners = dict(s.execute(select(FaceSample.id, FaceSample.person_id).where(FaceSample.id.in_(ids))).all())
            missing = sorted(set(ids) - set(owners))
            if missing:
                raise NotFound(f"face samples {missing} no longer exist; fetch fresh samples and embed those")
            check_backend_dim(s, name, matrix.shape[1])
            s.execute(delete(Embedding).where(Embedding.backend == name, Embedding.sample_id.in_(ids)))
            s.add_all(
                Embedding(sample_id=i, backend=name, vector=_vectors.to_bytes(v), dim=matrix.shape[1])
                for i, v in zip(ids, matrix)
            )
            s.flush()
            recompute_centroids(s, owners.values())
        return len(ids)

    def embeddings_by_person(self, backend: str) -> dict[int, np.ndarray]:
        """Every stored ``backend`` embedding, grouped by person: ``{person_id: (n, D) float32}``.

        Raises:
            StorageError: a stored embedding is damaged.
        """
        with self._db.session(write=False) as s:
            rows = s.execute(
                select(FaceSample.person_id, Embedding.sample_id, Embedding.vector, Embedding.dim)
                .join(FaceSample, FaceSample.id == Embedding.sample_id)
                .where(Embedding.backend == backend)
                .order_by(FaceSample.person_id, Embedding.sample_id)
            ).all()
        grouped: dict[int, list[np.ndarray]] = {}
        for pid, sid, vec, dim in rows:
            grouped.setdefault(pid, []).append(_vectors.from_bytes(vec, dim, f"embedding of sample {sid} for {backend!r}"))
        return {pid: np.stack(vs) for pid, vs in grouped.items()}

    def embedding_count(self, backend: str) -> int:
        """How many samples have an embedding for ``backend``."""
        with self._db.session(write=False) as s:
            return int(s.scalar(select(func.count(Embedding.id)).where(Embedding.backend == backend)) or 0)

    def backends_with_embeddings(self) -> list[str]:
        """Names of the backends that have at least one stored embedding, sorted."""
        with self._db.session(write=False) as s:
            return list(s.scalars(select(Embedding.backend).distinct().order_by(Embedding.backend)))

    def centroids(self, backend: str) -> CentroidSet:
        """Everyone's centroid for ``backend``, ordered by person id.

        Returns:
            A :class:`CentroidSet`; its matrix is ``(0, 0)`` when nobody has embeddings for ``backend``.

        Raises:
            StorageError: a stored centroid is damaged.
        """
        with self._db.session(write=False) as s:
            rows = s.execute(
                select(Centroid.person_id, Person.name, Centroid.vector, Centroid.dim)
                .join(Person, Person.id == Centroid.person_id)
                .where(Centroid.backend == backend)
                .order_by(Centroid.person_id)
            ).all()
        if not rows:
            return CentroidSet(backend)
        matrix = np.stack(
            [_vectors.from_bytes(vec, dim, f"centroid of person {pid} for {backend!r}") for pid, _, vec, dim in rows]
        )
        return CentroidSet(backend, tuple(r[0] for r in rows), tuple(r[1] for r in rows), matrix)
