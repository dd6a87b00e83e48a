"""The zh-CN table against the code: no stale entry, no missing one, the same ``{fields}``
on both sides; and how templates kept for later (failure messages, /cancel answers, errors
raised deep in the job service) come out in the reader's language."""

from __future__ import annotations

import ast
import json
import re
import sqlite3
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.discord_io.command_specs import FAMILY_DESCRIPTION, FAMILY_MODEL
from bot.discord_io.translator import Translator
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.text.i18n import t, table

ZH = "zh-CN"
ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for folder in ("bot", "cogs")
    for path in sorted((ROOT / folder).rglob("*.py"))
    if "simulator" not in path.parts  # the fake Max API never speaks to members
]
#: Calls whose first text argument is an English message a member reads.
MESSAGE_CALLS = frozenset(
    {
        "UserFacingError",
        "NotAllowed",
        "LimitReached",
        "MissingBotPermissions",
        "AttachmentError",
        "ValidationError",
        "_Refused",
    }
)
#: Han characters and CJK / full-width punctuation.
CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")


# -- reading the code -------------------------------------------------------------------


def syntax_trees() -> Iterator[tuple[Path, ast.AST]]:
    for path in SOURCES:
        yield path, ast.parse(path.read_text("utf-8"), filename=str(path))


def call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def literal_messages() -> dict[str, str]:
    """Every English literal handed to the members' side, with where it is.

    ``t(locale, "...")``; the message of a user-facing error; a literal stored as a
    job's ``failure_message``; a ``CancelOutcome`` answer; a literal choice name."""
    found: dict[str, str] = {}
    for path, tree in syntax_trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = call_name(node)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            candidates: list[str | None] = []
            if name == "t" and len(node.args) >= 2:
                candidates.append(text(node.args[1]))
            if name in MESSAGE_CALLS and node.args:
                candidates.append(text(node.args[-1] if name == "_Refused" else node.args[0]))
            if name == "CancelOutcome":
                candidates += [text(a) for a in node.args]
            if name == "Choice":
                candidates += [text(k.value) for k in node.keywords if k.arg == "name"]
            candidates += [text(k.value) for k in node.keywords if k.arg == "failure_message"]
            for value in candidates:
                if value:
                    found.setdefault(value, where)
    return found


def string_constants() -> set[str]:
    """Every text literal in the bot's code (implicit concatenations already joined)."""
    return {
        node.value
        for _, tree in syntax_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def catalogue_strings() -> set[str]:
    """Every text in ``catalog.json``: rule messages, refusal templates, option values."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads((ROOT / "bot" / "data" / "catalog.json").read_text("utf-8")))
    return found


async def synced_payloads(make_bot: Any) -> list[dict[str, Any]]:
    """What the bot would sync: every command with its translations, built offline."""
    from bot.discord_io.client import EXTENSIONS

    bot = make_bot()
    try:
        for name in EXTENSIONS:
            await bot.load_extension(name)
        translator = Translator()
        return [
            await c.get_translated_payload(bot.tree, translator) for c in bot.tree.get_commands()
        ]
    finally:
        await bot.close()


def metadata_strings(payloads: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()

    def walk(entry: dict[str, Any]) -> None:
        found.add(entry["name"])
        found.add(entry.get("description", ""))
        for choice in entry.get("choices", []):
            found.add(choice["name"])
        for option in entry.get("options", []):
            walk(option)

    for payload in payloads:
        walk(payload)
    return found


def template_fields(template: str) -> set[tuple[str, str, str]]:
    """The ``(name, conversion, format spec)`` of each field in ``template``."""
    return {
        (name, conversion or "", spec or "")
        for _, name, spec, conversion in string.Formatter().parse(template)
        if name is not None
    }


@pytest.fixture(scope="module")
def zh() -> dict[str, str]:
    return table(ZH)


# -- the table against the code ---------------------------------------------------------


def test_the_table_is_a_flat_map_of_text(zh: dict[str, str]) -> None:
    assert len(zh) > 300
    assert all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in zh.items())


def test_every_translation_keeps_exactly_the_fields_of_its_key(zh: dict[str, str]) -> None:
    wrong = {
        key: value for key, value in zh.items() if template_fields(key) != template_fields(value)
    }
    assert not wrong, f"fields differ: {wrong}"


def test_every_translation_is_chinese(zh: dict[str, str]) -> None:
    english = [key for key, value in zh.items() if value == key or not CJK.search(value)]
    assert not english, f"not translated: {english}"


async def test_no_entry_is_stale(zh: dict[str, str], make_bot: Any) -> None:
    """Every key is still said somewhere: a literal in the code, a text of the
    catalogue, or a string the commands sync (family descriptions count through their
    template, which the translator is handed with its fields)."""
    used = (
        string_constants() | catalogue_strings() | metadata_strings(await synced_payloads(make_bot))
    )
    stale = sorted(key for key in zh if key not in used)
    assert not stale, f"entries nothing uses any more: {stale}"


def test_every_literal_message_has_an_entry(zh: dict[str, str]) -> None:
    found = literal_messages()
    assert len(found) > 250  # the scan itself still finds the messages
    missing = {value: where for value, where in found.items() if value not in zh}
    assert not missing, f"no zh-CN entry for: {missing}"


def test_every_message_table_has_entries(zh: dict[str, str]) -> None:
    """Texts chosen from a table at run time (states, labels, stored failure messages)."""
    from bot.discord_io import announcer, command_specs, delivery_errors, delivery_message
    from bot.discord_io.launch import PERMISSION_NAMES
    from bot.domain.errors import UserFacingError
    from bot.domain.job_states import JobState
    from bot.services import job_messages as jobs
    from bot.text import delivery_plan, model_pages, usage_report
    from bot.text import job_pages as job_views
    from bot.text import progress_card as progress

    def titles(cls: type[UserFacingError]) -> Iterator[str]:
        yield cls.title
        for sub in cls.__subclasses__():
            yield from titles(sub)

    wanted = [
        *progress.STATE_TEXT.values(),
        *job_views.STATE_LABELS.values(),
        *job_views.NOT_YOURS.values(),
        *usage_report.DIMENSION_LABELS.values(),
        *usage_report.PERIODS.values(),
        *command_specs.MODE_LABELS.values(),
        command_specs.FAMILY_DESCRIPTION,
        command_specs.FAMILY_MODEL,
        *delivery_plan.LINK_REASONS.values(),
        *(label for _, label, _ in delivery_message.RESULT_BUTTONS),
        *(message for _, message in delivery_errors.REFUSALS.values()),
        delivery_errors.REFUSED_TEXT,
        delivery_errors.NOT_FOUND_TEXT,
        *jobs.FAILURE_MESSAGES.values(),
        jobs.TIMEOUT_MESSAGE,
        jobs.TOO_OLD_MESSAGE,
        *jobs.REJECTED_MESSAGES.values(),
        jobs.ALREADY_ENDED,
        jobs.HAD_ENDED,
        *jobs.BLOCKED.values(),
        *announcer.TITLES.values(),
        *model_pages.PRICE_UNITS.values(),
        *PERMISSION_NAMES.values(),
        *titles(UserFacingError),
        *(state.value for state in JobState),  # the state in /cancel answers
        "image",
        "video",
    ]
    assert not [text for text in wanted if text not in zh]


def test_every_refused_submit_is_told_in_chinese() -> None:
    from bot import maxapi
    from bot.services.job_messages import rejection as _rejection

    errors = [
        maxapi.ContentRejected("no", categories=["sexual/minors", "violence"]),
        maxapi.InsufficientCredits("no"),
        maxapi.Unauthorized("no"),
        maxapi.InvalidParameters("ratio must be one of 16:9, 9:16"),
        maxapi.RateLimited("slow", retry_after=11.2),
        maxapi.RateLimited("slow"),
        maxapi.MaxApiError("down"),
    ]
    for error in errors:
        _, template, fields = _rejection(error)
        shown = t(ZH, template, **fields)
        assert CJK.search(shown), f"{type(error).__name__}: {shown}"
    _, busy, fields = _rejection(maxapi.RateLimited("slow", retry_after=11.2))
    assert t(ZH, busy, **fields) == "Max API 正忙。请在 12 秒后重试。你没有被扣费。"
    _, content, fields = _rejection(errors[0])
    assert "sexual / minors, violence" in t(ZH, content, **fields)


# -- t, stored failures, /cancel answers ----------------------------------------------------


def test_t_fills_fields_after_translating_and_english_is_the_fallback() -> None:
    assert t(ZH, "Cancel #{job_id}", job_id=7) == "取消 #7"
    assert t("zh-TW", "Cancel #{job_id}", job_id=7) == "取消 #7"
    assert t("en-US", "Cancel #{job_id}", job_id=7) == "Cancel #7"
    assert t(None, "Cancel #{job_id}", job_id=7) == "Cancel #7"
    assert t(discord.Locale.chinese, "Cancel") == "取消"
    assert t(ZH, "A sentence nobody translated {x}.", x=1) == "A sentence nobody translated 1."


def test_a_bad_translation_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(table(ZH), "Broken {a}", "坏的 {b}")
    assert t(ZH, "Broken {a}", a=1) == "Broken 1"


def make_job(**values: Any) -> Job:
    base: dict[str, Any] = {"id": 5, "guild_id": 1, "channel_id": 2, "user_id": 3}
    base |= {"media": "image", "model": "nano-banana", "prompt": "a fox", "input": {}}
    base |= {"price_usd": 0.04, "state": JobState.FAILED, "created_at": 1.0, "updated_at": 2.0}
    return Job(**(base | values))


def test_a_stored_failure_is_its_template_and_fields_shown_in_the_readers_language() -> None:
    from bot.services.job_messages import TOO_OLD_MESSAGE
    from bot.text.progress_card import failure_text

    job = make_job(
        state=JobState.EXPIRED,
        failure_message=TOO_OLD_MESSAGE,
        failure_fields={"duration": "2.5 h"},
    )
    assert failure_text(job, ZH) == ("Max API 未在 2.5 h 内完成此任务。Atelier 已停止等待。", "")
    english, _ = failure_text(job, "en-US")
    assert (
        english == "Max API did not finish this job within 2.5 h. Atelier stopped waiting for it."
    )
    # A reason kept without fields (or written before templates were kept) is looked up whole.
    cancelled = make_job(state=JobState.CANCELLED, failure_message="Cancelled.")
    assert failure_text(cancelled, ZH) == ("已取消。", " 你没有被扣费。")


def test_a_cancel_answer_gets_the_jobs_id_and_state_translated() -> None:
    from bot.services.job_messages import ALREADY_ENDED
    from bot.text.job_pages import cancel_text

    job = make_job(state=JobState.DELIVERED)
    assert cancel_text(ALREADY_ENDED, job, cancelled=False, caller_id=3, locale=ZH) == (
        "任务 5 的状态已是：已发布。"
    )
    english = cancel_text(ALREADY_ENDED, job, cancelled=False, caller_id=3, locale="en-US")
    assert english == "Job 5 has already delivered."


async def test_failures_stored_as_sentences_are_split_back_into_templates(
    tmp_path: Path,
) -> None:
    """m010: a sentence formatted from a template before it becomes template and fields."""
    from sqlite_utils import Database

    from bot.services.job_messages import REJECTED_MESSAGES, TOO_OLD_MESSAGE
    from bot.store import Store, migrations
    from bot.text.progress_card import failure_text

    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m010_failure_fields")
    sentences = [
        TOO_OLD_MESSAGE.format(duration="2.5 h"),
        REJECTED_MESSAGES["RATE_LIMITED"].format(seconds=12),
        "Cancelled.",
        "Something {odd} nobody formatted.",
    ]
    for job_id, sentence in enumerate(sentences, start=1):
        old.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, media, model, prompt, input, "
            "price_usd, state, created_at, updated_at, failure_message) "
            "VALUES (?, 7, 2, 3, 'image', 'nano-banana', 'old', '{}', 0.04, 'failed', 1.0, 1.0, ?)",
            [job_id, sentence],
        )
    old.conn.commit()
    old.close()
    store = await Store.open(path)
    jobs = [await store.get(job_id) for job_id in range(1, len(sentences) + 1)]
    await store.close()
    assert [(j.failure_message, j.failure_fields) for j in jobs if j] == [
        (TOO_OLD_MESSAGE, {"duration": "2.5 h"}),
        (REJECTED_MESSAGES["RATE_LIMITED"], {"seconds": "12"}),
        ("Cancelled.", None),
        ("Something {odd} nobody formatted.", None),
    ]
    shown = [failure_text(j, ZH)[0] for j in jobs if j]
    assert shown[1] == "Max API 正忙。请在 12 秒后重试。你没有被扣费。"
    assert shown[3] == "Something {odd} nobody formatted."
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM jobs").fetchone() == (4,)


def test_a_blocked_member_is_refused_in_chinese_with_the_end_and_reason() -> None:
    from bot.discord_io.ui import describe_error
    from bot.domain.errors import NotAllowed
    from bot.services.job_messages import BLOCKED

    error = NotAllowed(BLOCKED[True, True], until=99, reason="spam")
    assert describe_error(error, ZH) == (
        "没有权限",
        "管理员已禁止你在这里使用 Atelier，直到 <t:99:f>（spam）。",
    )


# -- errors -------------------------------------------------------------------------------


def test_limit_messages_are_templates_with_fields() -> None:
    from bot.discord_io.ui import describe_error
    from bot.domain.errors import LimitReached
    from bot.domain.quota import Charge, GuildPolicy, Limits, Usage, check

    with pytest.raises(LimitReached) as caught:
        check(Limits(jobs_at_once=2), Usage(active_jobs=2), Charge(1, 0, 0.1), GuildPolicy(), 0.0)
    english = "You already have 2 job(s) running (the limit is 2)."
    assert str(caught.value).startswith(english)
    assert describe_error(caught.value, "en-US") == ("Limit reached", str(caught.value))
    title, message = describe_error(caught.value, ZH) or ("", "")
    assert title == "已达限额"
    assert message.startswith("你已有 2 个任务在运行（上限为 2）")


def test_validation_errors_translate_their_fields_that_are_entries() -> None:
    from bot.discord_io.ui import describe_error
    from bot.domain.catalog import Catalog, GenerationRequest, ValidationError

    catalog = Catalog.load()
    with pytest.raises(ValidationError) as caught:
        catalog.prepare(GenerationRequest("veo3_lite", "x", {"resolution": "4k"}))
    assert str(caught.value) == "veo3_lite has no 4k: it is 720p only."
    assert describe_error(caught.value, ZH) == ("无法执行", "veo3_lite 不支持 4k：只有 720p。")
    with pytest.raises(ValidationError) as caught:
        catalog.prepare(GenerationRequest("nano-banana", "x", {"ratio": "1:1"}))
    _, message = describe_error(caught.value, ZH) or ("", "")
    assert message == "nano-banana 的比例只能是 16:9, 9:16；'1:1' 不在其中。"


def test_an_error_already_translated_where_it_was_raised_passes_through() -> None:
    from bot.discord_io.ui import describe_error
    from bot.domain.errors import NotAllowed

    error = NotAllowed(t(ZH, "Only moderators can export usage."))
    assert describe_error(error, ZH) == ("没有权限", "只有管理员可以导出用量。")
    static = NotAllowed("Atelier is not enabled in this channel. Ask a moderator where.")
    assert describe_error(static, ZH) == (
        "没有权限",
        "此频道未启用 Atelier。请询问管理员可以在哪里使用。",
    )


def test_describe_error_keeps_english_for_english_readers() -> None:
    from bot.discord_io.ui import describe_error
    from bot.domain.errors import UserFacingError

    error = UserFacingError("I can't read the duration {duration}.", duration="'5x'")
    assert error.message == str(error) == "I can't read the duration '5x'."
    assert describe_error(error) == ("Can't do that", "I can't read the duration '5x'.")


# -- the translator -------------------------------------------------------------------------


def context(location: app_commands.TranslationContextLocation) -> Any:
    return app_commands.TranslationContext(location=location, data=None)


async def test_translator_keeps_command_names_and_translates_the_rest() -> None:
    loc = app_commands.TranslationContextLocation
    translator = Translator()
    chinese = discord.Locale.chinese

    async def say(
        message: str, where: app_commands.TranslationContextLocation, **extras: Any
    ) -> str | None:
        text = app_commands.locale_str(message, **extras)
        return await translator.translate(text, chinese, context(where))

    def family(kind: str, label: str) -> dict[str, Any]:
        return {"template": FAMILY_DESCRIPTION, "fields": {"kind": kind, "label": label}}

    assert await say("video", loc.command_name) is None
    assert await say("words", loc.group_name) is None
    assert await say("words", loc.parameter_name) == "词语"
    seedream = family("images", "Seedream")
    assert await say("Make images with Seedream", loc.command_description, **seedream) == (
        "用 Seedream 生成图片"
    )
    grok = family("images and videos", "Grok Imagine")
    assert await say(
        "Make images and videos with Grok Imagine", loc.command_description, **grok
    ) == ("用 Grok Imagine 生成图片和视频")
    veo = {"template": FAMILY_MODEL, "fields": {"label": "Veo 3"}}
    assert await say("The Veo 3 model", loc.parameter_description, **veo) == "Veo 3 模型"
    assert await say("Last 7 days", loc.choice_name) == "最近 7 天"
    assert await say("8 s", loc.choice_name) is None
    english = await translator.translate(
        app_commands.locale_str("Last 7 days"), discord.Locale.american_english, context(loc.other)
    )
    assert english is None


async def test_synced_options_have_valid_chinese_names_and_commands_keep_theirs(
    make_bot: Any,
) -> None:
    """Offline twin of the e2e check: the payloads discord.py builds for the sync."""
    payloads = await synced_payloads(make_bot)
    named = 0

    def walk(entry: dict[str, Any], *, command: bool) -> None:
        nonlocal named
        localised = entry.get("name_localizations", {}).get(ZH)
        if command:
            assert localised is None, f"{entry['name']} renamed to {localised}"
        else:
            assert localised is not None and valid_name(localised), (entry["name"], localised)
            named += 1
        siblings = [o.get("name_localizations", {}).get(ZH) for o in entry.get("options", [])]
        siblings = [n for n in siblings if n]
        assert len(siblings) == len(set(siblings)), f"two options of {entry['name']} clash"
        for option in entry.get("options", []):
            walk(option, command=option.get("type") in (1, 2))

    for payload in payloads:
        walk(payload, command=True)
    assert named > 50


async def test_family_commands_are_described_in_chinese(make_bot: Any) -> None:
    """The family descriptions reach the sync as templates with fields, so each is translated."""

    def is_family(payload: dict[str, Any]) -> bool:
        model = [o for o in payload.get("options", []) if o["name"] == "model"]
        return bool(model) and model[0]["description"] != "The model (default: the server's choice)"

    families = [p for p in await synced_payloads(make_bot) if is_family(p)]
    assert len(families) > 3
    for payload in families:
        described = payload.get("description_localizations", {}).get(ZH, "")
        assert described.startswith("用 ") and CJK.search(described), payload["name"]
        model = next(o for o in payload["options"] if o["name"] == "model")
        assert model["description_localizations"][ZH].endswith(" 模型"), payload["name"]


def valid_name(name: str) -> bool:
    """Discord: ``^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, lowercase."""
    return (
        1 <= len(name) <= 32
        and name == name.lower()
        and all(c in "-_" or unicodedata.category(c)[0] in "LN" for c in name)
    )


def test_valid_name() -> None:
    assert valid_name("每日图片数") and valid_name("图片2") and valid_name("jobs_at_once")
    assert not valid_name("每日 图片") and not valid_name("Prompt") and not valid_name("x" * 33)
    assert not valid_name("") and not valid_name("比例（宽高）")


def test_a_changed_translation_changes_the_command_sync_digest(
    make_bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discord.py's ``to_dict`` leaves translations out, so without this a new
    translation would never reach Discord on a bot that syncs only on change."""
    bot = make_bot(extensions=[])
    before = bot.command_digest()
    assert bot.command_digest() == before
    monkeypatch.setitem(table(ZH), "Cancel", "撤销")
    assert bot.command_digest() != before
