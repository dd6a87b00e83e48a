"""Which links are Discord's attachments, and when one must be renewed."""

from __future__ import annotations

import pytest

from bot.domain.attachment_links import (
    REFRESH_MARGIN,
    expires_at,
    is_discord_link,
    link_hosts,
    needs_refresh,
)

NOW = 1_765_000_000.0


def cdn(ex: float | None, host: str = "cdn.discordapp.com") -> str:
    query = "" if ex is None else f"?ex={int(ex):x}&is={int(NOW):x}&hm=abc123&"
    return f"https://{host}/attachments/1/2/cat.png{query}"


@pytest.mark.parametrize(
    "url",
    [
        cdn(NOW),
        cdn(NOW, host="media.discordapp.net"),
        "https://cdn.discordapp.com/ephemeral-attachments/1/2/cat.png?ex=1",
        "https://CDN.discordapp.com/attachments/1/2/cat.png",
    ],
)
def test_discord_attachment_links_are_recognised(url: str) -> None:
    assert is_discord_link(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/attachments/1/2/cat.png?ex=1",
        "https://cdn.discordapp.com/avatars/1/abc.png",  # not an attachment
        "https://files.maxapi.io/results/cat.png",
        "not a url",
        "",
    ],
)
def test_other_links_are_not_discords(url: str) -> None:
    assert not is_discord_link(url)
    assert not needs_refresh(url, NOW)


def test_expiry_is_read_from_hex_ex() -> None:
    assert expires_at(cdn(NOW + 3600)) == float(int(NOW + 3600))
    assert expires_at(cdn(None)) is None
    assert expires_at("https://cdn.discordapp.com/attachments/1/2/a.png?ex=zz") is None


@pytest.mark.parametrize(
    ("left", "renew"),
    [
        (24 * 3600, False),
        (REFRESH_MARGIN + 60, False),
        (REFRESH_MARGIN - 1, True),
        (60, True),
        (-3600, True),  # already expired
    ],
)
def test_links_expired_or_within_ten_minutes_are_renewed(left: float, renew: bool) -> None:
    assert needs_refresh(cdn(NOW + left), NOW) is renew


def test_an_unsigned_discord_link_is_renewed() -> None:
    assert needs_refresh(cdn(None), NOW)


def test_a_local_discord_is_known_by_its_host_and_port() -> None:
    hosts = link_hosts("http://127.0.0.1:4567/api/v10")
    local = f"http://127.0.0.1:4567/attachments/0/9/a.png?ex={int(NOW):x}&is=0&hm=0&"
    assert is_discord_link(local, hosts)
    assert needs_refresh(local, NOW, hosts)
    # Another service on the same machine (the Max API simulator) is not Discord.
    assert not is_discord_link("http://127.0.0.1:9999/attachments/0/9/a.png", hosts)
    assert not is_discord_link(local)  # only Discord's own CDN without the local host
    assert is_discord_link(cdn(NOW), hosts)  # Discord's CDN always counts
