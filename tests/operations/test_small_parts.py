"""Pure helpers of the operations commands: password redaction, ages, value cleaning, ARIA episode text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.operations.ages import format_age
from services.operations.dsn import DsnError, check_dsn, redact, split_password
from services.operations.importer.aria import episode_content, episode_uuid
from services.operations.importer.values import as_object, clean_tags, unit_interval


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://aria:s3cr%2Ft@db.example:5433/aria_memory", "postgresql://aria@db.example:5433/aria_memory"),
        ("postgresql://aria@db.example/aria?password=s3cret&sslmode=require", "postgresql://aria@db.example/aria?sslmode=require"),
        ("postgres://u:p@[::1]:5432/db", "postgres://u@[::1]:5432/db"),
        ("host=db password=s3cret", "(a database URL)"),
    ],
)  # fmt: skip
def test_redact_never_shows_a_password(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown


def test_check_dsn_names_the_origin_never_the_value() -> None:
    assert check_dsn("postgresql://u:p@h:5432/d", "--from") == "postgresql://u:p@h:5432/d"
    for bad, why in (("host=h password=p", "not a postgresql:// URL"), ("postgresql://u:p@h:port/d", "the port")):
        with pytest.raises(DsnError) as error:
            check_dsn(bad, "--from")
        assert str(error.value).startswith("--from: " + why) and "p@" not in str(error.value)


def test_split_password_decodes_it_for_libpq() -> None:
    assert split_password("postgresql://aria:s3cr%2Ft@db:5433/x") == ("postgresql://aria@db:5433/x", "s3cr/t")
    assert split_password("postgresql://aria@db/x?password=q") == ("postgresql://aria@db/x", "q")
    assert split_password("postgresql://aria@db/x") == ("postgresql://aria@db/x", None)


@pytest.mark.parametrize(
    ("age", "text"),
    [(None, "-"), (timedelta(0), "0s"), (timedelta(seconds=59), "59s"), (timedelta(seconds=312), "5m 12s"),
     (timedelta(days=3, hours=4, minutes=5), "3d 4h"), (timedelta(hours=2), "2h")],
)  # fmt: skip
def test_format_age(age: timedelta | None, text: str) -> None:
    assert format_age(age) == text


def test_value_cleaning() -> None:
    assert clean_tags(["", "a", None, "a", "  ", "ñ", " b "]) == ["a", "ñ", " b "]
    assert clean_tags(None) == []
    assert [unit_interval(v, 0.5) for v in (None, 0, 1, 0.3, 1.01, -0.1, float("nan"))] == [
        0.5, 0.0, 1.0, 0.3, None, None, None,
    ]  # fmt: skip
    assert as_object(None, "k") == {} and as_object([1], "k") == {"k": [1]} and as_object({"a": 1}, "k") == {"a": 1}


def test_aria_episode_text_and_ids() -> None:
    assert episode_content("note", {"text": "hola", "content": "  "}) == "hola"
    assert episode_content("note", "plain string") == "plain string"
    assert episode_content("", {"n": 1}) == '{"n": 1}'
    assert episode_content(" ", {}) == ""
    same = episode_uuid("aria", "ep-1", 1)
    assert same == episode_uuid("aria", "ep-1", 99)  # the episode_id names the row, not the serial
    assert same != episode_uuid("nexus", "ep-1", 1)
    assert episode_uuid("aria", None, 7) == episode_uuid("aria", None, 7) != episode_uuid("aria", None, 8)
