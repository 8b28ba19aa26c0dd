"""hookrun.record behaves as @dataclass(frozen=True) does for what hookrun uses: compared
side by side with the same class declared as a frozen dataclass."""

from __future__ import annotations

import dataclasses

import pytest

from hookrun.record import asdict, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class DataPoint:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@record
class Line:
    start: Point
    end: Point
    label: str | None = None


def test_construction_matches_a_frozen_dataclass() -> None:
    for args, kwargs in [((1,), {}), ((1, 2), {}), ((), {"x": 3, "y": 4}), ((5,), {"tags": ["a"]})]:
        ours, theirs = Point(*args, **kwargs), DataPoint(*args, **kwargs)
        assert repr(ours) == repr(theirs).replace("DataPoint", "Point")
        assert (ours.x, ours.y, ours.tags) == (theirs.x, theirs.y, theirs.tags)
    assert fields(Point) == ("x", "y", "tags") == tuple(f.name for f in dataclasses.fields(DataPoint))
    assert Point.__match_args__ == DataPoint.__match_args__


def test_a_factory_makes_a_new_default_each_time() -> None:
    a, b = Point(1), Point(2)
    a.tags.append("only a")
    assert b.tags == []
    assert "tags" not in Point.__dict__  # no shared class attribute left behind


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "missing argument 'x'"),
    ((1, 2, [], 4), {}, "takes 3 arguments, 4 given"),
    ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
    ((1,), {"x": 2}, "multiple values for argument 'x'"),
])
def test_wrong_arguments_are_type_errors(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)
    with pytest.raises(TypeError):
        DataPoint(*args, **kwargs)  # the same calls fail there too


def test_frozen() -> None:
    p = Point(1)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del p.y  # type: ignore[misc]
    assert p.x == 1


def test_equality_and_hash_by_value_and_class() -> None:
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) != DataPoint(1)  # another class, even with the same fields
    assert hash(Line(Point(1, tags=()), Point(2, tags=()))) == hash(Line(Point(1, tags=()), Point(2, tags=())))  # type: ignore[arg-type]
    assert len({Line(Point(1, tags=()), Point(2, tags=())), Line(Point(1, tags=()), Point(2, tags=()))}) == 1  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unhashable"):
        hash(Point(1))  # a list inside, as with dataclasses


def test_replace_and_asdict() -> None:
    line = Line(Point(1), Point(2, 3, ["t"]), "l")
    moved = replace(line, end=Point(9))
    assert moved == Line(Point(1), Point(9), "l") and line.end == Point(2, 3, ["t"])
    with pytest.raises(TypeError, match="no field 'middle'"):
        replace(line, middle=Point(0))
    assert asdict(line) == {"start": {"x": 1, "y": 0, "tags": []}, "end": {"x": 2, "y": 3, "tags": ["t"]},
                            "label": "l"}
    assert asdict(Point(1, 2, ["a"])) == dataclasses.asdict(DataPoint(1, 2, ["a"]))


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="'b' without a default follows"):
        @record
        class Bad:
            a: int = 0
            b: int


def test_fields_of_a_record_base_come_first() -> None:
    @record
    class Labelled(Point):
        label: str = ""

    assert fields(Labelled) == ("x", "y", "tags", "label")
    assert Labelled(1, label="l") == Labelled(x=1, y=0, tags=[], label="l")
