"""People, samples, embeddings and centroids as a user of the repository sees them."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from common.errors import DuplicateError, InvalidInput, NotFound
from db import NewSample, Repository, open_database


@pytest.fixture
def repo(db_url: str) -> Repository:
    """A repository on in-memory SQLite and on a fresh PostgreSQL database (the same tests run on both)."""
    database = open_database(db_url)
    yield Repository(database)
    database.close()


def _sample(tag: bytes = b"a", source: str = "camera") -> NewSample:
    return NewSample(b"\xff\xd8jpeg-" + tag, [(10.0, 12.5), (30.0, 12.0)], "dlib68", source, 0.8)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_add_person_stores_unit_centroid_equal_to_normalised_mean(repo: Repository) -> None:
    vectors = np.array([[3.0, 0.0, 0.0, 4.0], [0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    person = repo.add_person("Ada", "S-1", [_sample(b"1"), _sample(b"2"), _sample(b"3")], {"dlib": vectors})

    assert person.sample_count == 3
    assert person.created_at.tzinfo == timezone.utc
    centroids = repo.centroids("dlib")
    expected = _unit(np.mean([_unit(v) for v in vectors], axis=0))
    assert centroids.person_ids == (person.id,)
    assert centroids.names == ("Ada",)
    assert centroids.matrix.dtype == np.float32 and centroids.matrix.shape == (1, 4)
    np.testing.assert_allclose(centroids.matrix[0], expected, atol=1e-6)
    assert np.linalg.norm(centroids.matrix[0]) == pytest.approx(1.0, abs=1e-6)


def test_centroids_of_unknown_backend_are_empty(repo: Repository) -> None:
    repo.add_person("Ada", samples=[_sample()], embeddings={"dlib": np.ones((1, 3))})
    empty = repo.centroids("facenet")
    assert empty.matrix.shape == (0, 0) and empty.person_ids == () and len(empty) == 0


def test_duplicate_external_id_names_the_owner_and_stores_nothing(repo: Repository) -> None:
    ada = repo.add_person("Ada", "S-1")
    with pytest.raises(DuplicateError, match=r"S-1.*Ada \(id %d\)" % ada.id):
        repo.add_person("Bob", "S-1", [_sample()], {"dlib": np.ones((1, 3))})
    assert [p.name for p in repo.list_people()] == ["Ada"]
    assert repo.embedding_count("dlib") == 0


def test_wrong_embedding_row_count_leaves_nothing_behind(repo: Repository) -> None:
    with pytest.raises(InvalidInput, match=r"shape \(3, 4\).*2 samples"):
        repo.add_person("Ada", "S-1", [_sample(b"1"), _sample(b"2")], {"dlib": np.ones((3, 4))})
    assert repo.list_people() == []
    assert repo.embedding_count("dlib") == 0
    assert repo.add_person("Ada", "S-1").external_id == "S-1"  # the id was not left taken


def test_failure_after_first_backend_rolls_back_everything(repo: Repository) -> None:
    repo.add_person("Ada", samples=[_sample()], embeddings={"dlib": np.ones((1, 3))})
    bad = {"arcface": np.ones((1, 8)), "dlib": np.ones((1, 5))}  # dlib already stores 3-d vectors
    with pytest.raises(InvalidInput, match="3-dimensional"):
        repo.add_person("Bob", samples=[_sample()], embeddings=bad)
    assert [p.name for p in repo.list_people()] == ["Ada"]
    assert repo.backends_with_embeddings() == ["dlib"]


def test_remove_person_erases_faces_but_keeps_attendance_under_their_name(repo: Repository) -> None:
    ada = repo.add_person("Ada", "S-1", [_sample()], {"dlib": np.ones((1, 3))})
    bob = repo.add_person("Bob", None, [_sample()], {"dlib": np.ones((1, 3))})
    session = repo.get_or_create_session("Maths")
    repo.add_event(ada.id, session.id, datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc), "camera", 0.7, "dlib")

    repo.remove_person(ada.id)

    assert [p.name for p in repo.list_people()] == ["Bob"]
    assert repo.centroids("dlib").person_ids == (bob.id,)
    assert repo.embedding_count("dlib") == 1
    with pytest.raises(NotFound):
        repo.list_samples(ada.id)
    (event,) = repo.list_events(session_id=session.id)
    assert (event.person_id, event.person_name, event.external_id) == (None, "Ada", "S-1")


def test_find_person_by_external_id_name_and_id(repo: Repository) -> None:
    ada = repo.add_person("Ada Lovelace", "1815")
    bob = repo.add_person("Bob", "B-7")
    assert repo.find_person("B-7").id == bob.id
    assert repo.find_person("  ada LOVELACE ").id == ada.id
    assert repo.find_person(str(bob.id)).id == bob.id
    assert repo.find_person("1815").id == ada.id  # an external id wins over a numeric person id


def test_find_person_ambiguous_name_lists_ids(repo: Repository) -> None:
    first = repo.add_person("Sam")
    second = repo.add_person("sam")
    with pytest.raises(InvalidInput) as error:
        repo.find_person("SAM")
    assert f"id {first.id}" in str(error.value) and f"id {second.id}" in str(error.value)
    assert "use the id" in str(error.value)


def test_find_person_unknown_says_how_to_list(repo: Repository) -> None:
    repo.add_person("Ada")
    with pytest.raises(NotFound, match=r"no person named or with id 'Zed'.*main.py people"):
        repo.find_person("Zed")


def test_list_people_search_and_order(repo: Repository) -> None:
    repo.add_person("carol", "X-9")
    repo.add_person("Ándrea")
    repo.add_person("Bob", "s-42")
    assert [p.name for p in repo.list_people()] == ["Bob", "carol", "Ándrea"]
    assert [p.name for p in repo.list_people("S-4")] == ["Bob"]
    assert [p.name for p in repo.list_people("ÁND")] == ["Ándrea"]


def test_rename_and_set_external_id(repo: Repository) -> None:
    ada = repo.add_person("Ada", "S-1")
    bob = repo.add_person("Bob")
    assert repo.rename_person(bob.id, " Robert ").name == "Robert"
    with pytest.raises(DuplicateError, match=r"'S-1' already belongs to Ada"):
        repo.set_external_id(bob.id, "S-1")
    assert repo.get_person(bob.id).external_id is None
    assert repo.set_external_id(ada.id, "").external_id is None
    assert repo.set_external_id(bob.id, "S-1").external_id == "S-1"
    with pytest.raises(InvalidInput):
        repo.rename_person(bob.id, "   ")


def test_thumbnail_is_first_sample(repo: Repository) -> None:
    ada = repo.add_person("Ada", samples=[_sample(b"first"), _sample(b"second")])
    assert repo.person_thumbnail(ada.id) == b"\xff\xd8jpeg-first"
    assert repo.person_thumbnail(repo.add_person("Bob").id) is None
    with pytest.raises(NotFound):
        repo.person_thumbnail(999)


def test_samples_round_trip_and_last_sample_removal_drops_centroid(repo: Repository) -> None:
    ada = repo.add_person("Ada", samples=[_sample(b"1")], embeddings={"dlib": [[1.0, 0.0]]})
    (added,) = repo.add_samples(ada.id, [_sample(b"2", "/photos/ada.jpg")], {"dlib": [[0.0, 1.0]]})
    assert added.source == "/photos/ada.jpg" and added.landmarks == [(10.0, 12.5), (30.0, 12.0)]
    np.testing.assert_allclose(repo.centroids("dlib").matrix[0], _unit(np.array([1.0, 1.0])), atol=1e-6)

    first, second = repo.list_samples(ada.id)
    repo.remove_sample(first.id)
    np.testing.assert_allclose(repo.centroids("dlib").matrix[0], [0.0, 1.0], atol=1e-6)
    repo.remove_sample(second.id)
    assert len(repo.centroids("dlib")) == 0
    assert repo.get_person(ada.id).sample_count == 0


def test_missing_embeddings_resume_after_partial_store(repo: Repository) -> None:
    ada = repo.add_person("Ada", samples=[_sample(str(i).encode()) for i in range(5)])
    batches = repo.samples_missing_embedding("arcface", batch=2)
    first = next(batches)
    assert len(first) == 2
    repo.store_embeddings("arcface", {s.id: np.full(4, s.id, dtype=np.float32) for s in first})
    batches.close()  # the embedder stopped: the next run picks up the rest only

    remaining = [s.id for batch in repo.samples_missing_embedding("arcface", batch=2) for s in batch]
    all_ids = [s.id for s in repo.list_samples(ada.id)]
    assert remaining == all_ids[2:]
    assert repo.embedding_count("arcface") == 2

    repo.store_embeddings("arcface", {i: np.ones(4) for i in remaining})
    assert list(repo.samples_missing_embedding("arcface")) == []
    assert len(repo.centroids("arcface")) == 1
    assert repo.backends_with_embeddings() == ["arcface"]


def test_store_embeddings_for_deleted_sample_stores_nothing(repo: Repository) -> None:
    ada = repo.add_person("Ada", samples=[_sample()])
    (sample,) = repo.list_samples(ada.id)
    with pytest.raises(NotFound, match=r"\[999\]"):
        repo.store_embeddings("dlib", {sample.id: np.ones(3), 999: np.ones(3)})
    assert repo.embedding_count("dlib") == 0
    assert len(repo.centroids("dlib")) == 0


def test_store_embeddings_replaces_existing_vector(repo: Repository) -> None:
    ada = repo.add_person("Ada", samples=[_sample()], embeddings={"dlib": [[1.0, 0.0]]})
    (sample,) = repo.list_samples(ada.id)
    repo.store_embeddings("dlib", {sample.id: [0.0, 3.0]})
    assert repo.embedding_count("dlib") == 1
    np.testing.assert_allclose(repo.centroids("dlib").matrix[0], [0.0, 1.0], atol=1e-6)


def test_embeddings_by_person_returns_each_persons_stored_vectors(repo: Repository) -> None:
    ada = repo.add_person("Ada", samples=[_sample(b"a"), _sample(b"b")], embeddings={"dlib": [[1.0, 0.0], [0.6, 0.8]]})
    bob = repo.add_person("Bob", samples=[_sample(b"c")], embeddings={"dlib": [[0.0, 1.0]]})
    repo.add_person("Cy", samples=[_sample(b"d")])  # no vectors for dlib yet
    got = repo.embeddings_by_person("dlib")
    assert sorted(got) == [ada.id, bob.id]
    np.testing.assert_allclose(got[ada.id], [[1.0, 0.0], [0.6, 0.8]], atol=1e-6)
    np.testing.assert_allclose(got[bob.id], [[0.0, 1.0]], atol=1e-6)
    assert repo.embeddings_by_person("facenet") == {}
