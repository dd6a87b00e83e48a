"""bot.text.delivery_plan: which files go into which message, and what the message says."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.text.delivery_plan import (
    MAX_CONTENT,
    MessagePlan,
    Outcome,
    ResultFile,
    marker,
    parse_marker,
    plan_messages,
    render_content,
)

MB = 1024 * 1024
LIMIT = 10 * MB


def downloaded(index: int, size: int, extension: str) -> ResultFile:
    url = f"https://cdn.example/{index}{extension}"
    path = Path(f"/tmp/result-{index + 1}{extension}")
    return ResultFile(index, url, Outcome.FILE, size=size, path=path)


def image(index: int, size: int = MB) -> ResultFile:
    return downloaded(index, size, ".png")


def video(index: int, size: int) -> ResultFile:
    return downloaded(index, size, ".mp4")


def too_big(index: int) -> ResultFile:
    return ResultFile(index, f"https://cdn.example/{index}.mp4", Outcome.TOO_BIG, size=80 * MB)


def gone(index: int) -> ResultFile:
    return ResultFile(index, f"https://cdn.example/{index}.png", Outcome.GONE)


def shape(plans: list[MessagePlan]) -> list[tuple[list[int], list[int], list[int]]]:
    """Per message: (attached indexes, linked indexes, gone indexes)."""
    return [
        ([r.index for r in p.attachments], [r.index for r in p.links], [r.index for r in p.gone])
        for p in plans
    ]


CASES = {
    "one file": ([image(0)], [([0], [], [])]),
    "eleven files": (
        [image(i) for i in range(11)],
        [(list(range(10)), [], []), ([10], [], [])],
    ),
    "one oversize (known only after download)": (
        [image(0), image(1, 11 * MB), image(2)],
        [([0, 2], [1], [])],
    ),
    "one oversize (refused by the download cap)": (
        [image(0), too_big(1)],
        [([0], [1], [])],
    ),
    "all oversize": ([too_big(0), too_big(1), too_big(2)], [([], [0, 1, 2], [])]),
    "mixed video and image": (
        [video(0, 25 * MB), image(1, 2 * MB), video(2, 3 * MB)],
        [([1, 2], [0], [])],
    ),
    "exactly at the limit is attached": ([image(0, LIMIT)], [([0], [], [])]),
    "gone and not media": (
        [gone(0), ResultFile(1, "https://x/1", Outcome.NOT_MEDIA), image(2)],
        [([2], [1], [0])],
    ),
    "twenty-one files, oversize in the second part": (
        [image(i, 11 * MB if i == 14 else MB) for i in range(21)],
        [
            (list(range(10)), [], []),
            ([10, 11, 12, 13, 15, 16, 17, 18, 19], [14], []),
            ([20], [], []),
        ],
    ),
}


@pytest.mark.parametrize(("results", "expected"), CASES.values(), ids=CASES.keys())
def test_plan(results: list[ResultFile], expected: list[tuple[list[int], ...]]) -> None:
    plans = plan_messages(results, url_count=len(results), upload_limit=LIMIT)
    assert shape(plans) == expected
    assert [p.part for p in plans] == list(range(len(expected)))
    assert {p.total for p in plans} == {len(expected)}
    assert all(len(p.attachments) <= 10 for p in plans)


def test_parts_depend_on_index_not_on_what_is_left() -> None:
    """A retry plans only the parts not yet posted; they keep their numbers."""
    results = [image(i) for i in range(10, 15)]
    (plan,) = plan_messages(results, url_count=15, upload_limit=LIMIT)
    assert (plan.part, plan.total) == (1, 2)


def test_largest_attachment_becomes_a_link() -> None:
    (plan,) = plan_messages(
        [image(0, 3 * MB), video(1, 9 * MB), image(2, 1 * MB)], url_count=3, upload_limit=LIMIT
    )
    smaller = plan.without_largest_attachment()
    assert shape([smaller]) == [([0, 2], [1], [])]
    assert smaller.links[0].outcome == Outcome.REFUSED_BY_DISCORD
    assert smaller.links[0].size == 9 * MB
    assert shape([smaller.without_largest_attachment()]) == [([2], [0, 1], [])]


def render(plan: MessagePlan, prompt: str = "a cat in space", job_id: int = 42) -> str:
    return render_content(
        user_id=123456789012345678,
        prompt=prompt,
        job_id=job_id,
        plan=plan,
        expires_at=1_900_000_000.5,
        model="seedream-4.5",
    )


def test_content_mentions_prompt_links_and_marker() -> None:
    (plan,) = plan_messages([image(0), too_big(1)], url_count=2, upload_limit=LIMIT)
    text = render(plan)
    first, link, footer = text.split("\n")
    assert first == "<@123456789012345678> a cat in space"
    assert "https://cdn.example/1.mp4" in link
    assert "<t:1900000000:R>" in link
    assert "80.0 MB" in link
    assert footer == "-# `seedream-4.5` · job #42"
    assert parse_marker(text) == (42, 0, 1)


def test_marker_round_trip_for_parts() -> None:
    assert marker(7, 1, 3) == "job #7 · part 2/3"
    assert parse_marker("hello\n-# `m` · job #7 · part 2/3") == (7, 1, 3)
    assert parse_marker("job #7 · part 2/3 and more") is None
    assert parse_marker("no marker here") is None


def test_long_prompt_is_cut_to_fit() -> None:
    (plan,) = plan_messages([too_big(0)], url_count=1, upload_limit=LIMIT)
    text = render(plan, prompt="word " * 2000)
    assert len(text) <= MAX_CONTENT
    assert "…" in text
    assert "https://cdn.example/0.mp4" in text
    assert parse_marker(text) == (42, 0, 1)


def test_many_long_links_still_fit() -> None:
    results = [
        ResultFile(i, "https://cdn.example/" + "x" * 400 + f"/{i}.png", Outcome.TOO_BIG)
        for i in range(10)
    ]
    (plan,) = plan_messages(results, url_count=10, upload_limit=LIMIT)
    text = render(plan, prompt="p" * 3000)
    assert len(text) <= MAX_CONTENT
    assert "more result(s) could not be listed here" in text
    assert parse_marker(text) == (42, 0, 1)  # the marker always survives
    link_lines = text.split("\n")[1:-2]
    assert 1 <= len(link_lines) < 10
    assert all(("x" * 400) in line for line in link_lines)  # links are never cut


def test_prompt_markdown_and_newlines_are_neutralised() -> None:
    (plan,) = plan_messages([image(0)], url_count=1, upload_limit=LIMIT)
    text = render(plan, prompt="**bold** `code`\n# heading\n> quote @everyone")
    first = text.split("\n")[0]
    assert first == r"<@123456789012345678> \*\*bold\*\* \`code\` # heading \> quote @everyone"
