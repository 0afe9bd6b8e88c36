"""The words Settings shows after Save: saved, switched (with what was embedded), stopped, not switched."""

from __future__ import annotations

from app.services.backends import (
    DOWNLOAD_CANCELLED,
    ReembedResult,
    needs_weights_text,
    not_switched_note,
    saved_note,
    stopped_text,
)


def test_a_plain_save_says_when_the_live_view_uses_it() -> None:
    assert saved_note() == "Saved. The live view uses these settings from its next Start."


def test_a_switch_names_the_new_backend_and_how_many_faces_were_embedded() -> None:
    note = saved_note(ReembedResult("facenet", embedded=4, remaining=0, cancelled=False))
    assert note.startswith("Saved: Rollcall now recognises with facenet. The live view uses")
    assert note.count("Saved") == 1
    assert note.endswith("4 stored faces were embedded for it; nobody has to be photographed again.")
    assert "could not be used" not in note


def test_one_face_embedded_and_unusable_photos_are_counted_in_the_right_number() -> None:
    result = ReembedResult("facenet", embedded=1, remaining=2, cancelled=False, failed=((7, "damaged"), (9, "damaged")))
    note = saved_note(result)
    assert "1 stored face was embedded for it" in note
    assert note.endswith("2 stored photos could not be used (details in the log file).")


def test_a_switch_with_nothing_to_embed_does_not_mention_embedding() -> None:
    note = saved_note(ReembedResult("facenet", embedded=0, remaining=0, cancelled=False))
    assert "embedded" not in note and "Rollcall now recognises with facenet" in note


def test_a_stopped_reembedding_says_how_far_it_got_and_how_to_go_on() -> None:
    text = stopped_text(ReembedResult("tiny", embedded=2, remaining=8, cancelled=True), ready=2)
    assert text == "Stopped: 2 of 10 stored faces are ready for tiny and are kept; Save again to continue where it stopped."
    one = stopped_text(ReembedResult("tiny", embedded=1, remaining=0, cancelled=True), ready=1)
    assert one.startswith("Stopped: 1 of 1 stored face is ready for tiny")


def test_not_switched_gives_the_reason_and_the_backend_still_in_use() -> None:
    assert not_switched_note(needs_weights_text("facenet"), "dlib") == (
        "Not switched: facenet needs its model file first. Rollcall still recognises with dlib."
    )
    assert not_switched_note(DOWNLOAD_CANCELLED, "dlib").startswith("Not switched: The download was cancelled;")
