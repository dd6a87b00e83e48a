"""The schema: append-only migrations, applied in order at start-up."""

from __future__ import annotations

import json

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("atelier")


@migrations()
def m001_jobs(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER,
            channel_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            locale TEXT,
            media TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            input TEXT NOT NULL,
            image_urls TEXT NOT NULL DEFAULT '[]',
            price_usd REAL NOT NULL,
            price_documented INTEGER NOT NULL DEFAULT 0,
            outputs INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL,
            upstream_status TEXT,
            task_id TEXT UNIQUE,
            callback_token TEXT,
            result_kind TEXT,
            result_urls TEXT NOT NULL DEFAULT '[]',
            result_expires_at REAL,
            failure_reason TEXT,
            failure_message TEXT,
            application_id INTEGER,
            interaction_token TEXT,
            interaction_expires_at REAL,
            progress_message_id INTEGER,
            progress_edited_at REAL,
            result_message_ids TEXT NOT NULL DEFAULT '[]',
            delivery_nonce TEXT,
            submit_attempts INTEGER NOT NULL DEFAULT 0,
            polls INTEGER NOT NULL DEFAULT 0,
            poll_errors INTEGER NOT NULL DEFAULT 0,
            delivery_attempts INTEGER NOT NULL DEFAULT 0,
            next_poll_at REAL,
            next_delivery_at REAL,
            parent_job_id INTEGER REFERENCES jobs(id),
            action TEXT,
            created_at REAL NOT NULL,
            submitted_at REAL,
            upstream_done_at REAL,
            finished_at REAL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX jobs_state ON jobs(state)")
    db.execute("CREATE INDEX jobs_next_poll ON jobs(next_poll_at) WHERE next_poll_at IS NOT NULL")
    db.execute(
        "CREATE INDEX jobs_next_delivery ON jobs(next_delivery_at) "
        "WHERE next_delivery_at IS NOT NULL"
    )
    db.execute("CREATE INDEX jobs_user ON jobs(guild_id, user_id, created_at)")
    db.execute(
        """
        CREATE TABLE job_events (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            at REAL NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            reason TEXT
        )
        """
    )
    db.execute("CREATE INDEX job_events_job ON job_events(job_id, id)")


@migrations()
def m002_limits_and_moderation(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE charges (
            job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
            guild_id INTEGER,
            user_id INTEGER NOT NULL,
            images INTEGER NOT NULL,
            videos INTEGER NOT NULL,
            usd REAL NOT NULL,
            day TEXT NOT NULL,
            month TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX charges_user_day ON charges(guild_id, user_id, day)")
    db.execute("CREATE INDEX charges_guild_month ON charges(guild_id, month)")
    db.execute(
        """
        CREATE TABLE limits (
            guild_id INTEGER NOT NULL,
            scope TEXT NOT NULL,
            target_id INTEGER NOT NULL,
            images_per_day INTEGER,
            videos_per_day INTEGER,
            jobs_at_once INTEGER,
            spend_per_day_usd REAL,
            cooldown_seconds INTEGER,
            updated_at REAL NOT NULL,
            PRIMARY KEY (guild_id, scope, target_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE guild_settings (
            guild_id INTEGER PRIMARY KEY,
            settings TEXT NOT NULL DEFAULT '{}',
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE blocks (
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            reason TEXT,
            until REAL,
            by_user_id INTEGER,
            created_at REAL NOT NULL,
            PRIMARY KEY (guild_id, user_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER,
            at REAL NOT NULL,
            actor_id INTEGER,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute("CREATE INDEX audit_guild ON audit(guild_id, id)")


@migrations()
def m003_ending_told(db: Database) -> None:
    """When a job's owner was notified of its ending (card edited or notice posted), so a
    crash between recording an ending and notifying is caught up at start-up."""
    db.execute("ALTER TABLE jobs ADD COLUMN ending_told_at REAL")
    # Jobs that ended before this release were notified at the time.
    db.execute("UPDATE jobs SET ending_told_at = finished_at WHERE finished_at IS NOT NULL")


@migrations()
def m004_spend_totals(db: Database) -> None:
    """Running spend per guild and day/month, so the budget check does not sum every
    charge of the month on each command."""
    db.execute(
        """
        CREATE TABLE spend_totals (
            guild_id INTEGER NOT NULL,
            period TEXT NOT NULL,
            usd REAL NOT NULL,
            PRIMARY KEY (guild_id, period)
        )
        """
    )
    for prefix, column in (("d:", "day"), ("m:", "month")):
        db.execute(
            f"INSERT INTO spend_totals (guild_id, period, usd) "
            f"SELECT COALESCE(guild_id, 0), '{prefix}' || {column}, SUM(usd) FROM charges "
            f"WHERE state != 'refunded' GROUP BY 1, 2"
        )


@migrations()
def m005_guild_state_index(db: Database) -> None:
    """A guild's waiting jobs by state, for the queue position on every progress card."""
    db.execute("CREATE INDEX jobs_guild_state ON jobs(guild_id, state)")


@migrations()
def m006_bookkeeping_triggers(db: Database) -> None:
    """Triggers that wrote a job's first event and kept the guild's running spend
    (dropped by m009: the store does both in Python)."""
    db.execute(
        """
        CREATE TRIGGER jobs_first_event AFTER INSERT ON jobs
        BEGIN
            INSERT INTO job_events (job_id, at, from_state, to_state, reason)
            VALUES (NEW.id, NEW.created_at, NULL, NEW.state, 'accepted');
        END
        """
    )
    # A reservation adds to the day's and the month's totals; a refund takes it back.
    for name, event, when, sign in (
        ("charges_reserve_spend", "INSERT", "NEW.state != 'refunded'", ""),
        (
            "charges_refund_spend",
            "UPDATE OF state",
            "NEW.state = 'refunded' AND OLD.state != 'refunded'",
            "-",
        ),
    ):
        db.execute(
            f"""
            CREATE TRIGGER {name} AFTER {event} ON charges WHEN {when}
            BEGIN
                INSERT INTO spend_totals (guild_id, period, usd)
                VALUES (COALESCE(NEW.guild_id, 0), 'd:' || NEW.day, {sign}NEW.usd),
                       (COALESCE(NEW.guild_id, 0), 'm:' || NEW.month, {sign}NEW.usd)
                ON CONFLICT (guild_id, period) DO UPDATE SET usd = usd + excluded.usd;
            END
            """
        )


@migrations()
def m007_transition_triggers(db: Database) -> None:
    """Triggers that wrote a move's event and settled or refunded its charge, with the
    move's reason in ``state_reason`` (dropped by m009: the store does both in Python)."""
    db.execute("ALTER TABLE jobs ADD COLUMN state_reason TEXT")
    db.execute(
        "UPDATE jobs SET state_reason = (SELECT reason FROM job_events AS e "
        "WHERE e.job_id = jobs.id ORDER BY e.id DESC LIMIT 1)"
    )
    db.execute(
        """
        CREATE TRIGGER jobs_state_event AFTER UPDATE OF state ON jobs
        BEGIN
            INSERT INTO job_events (job_id, at, from_state, to_state, reason)
            VALUES (NEW.id, NEW.updated_at, OLD.state, NEW.state, NEW.state_reason);
        END
        """
    )
    for name, when, charge_state in (
        ("jobs_settle_charge", "NEW.state = 'succeeded'", "settled"),
        (
            "jobs_refund_charge",
            "NEW.state IN ('rejected', 'failed', 'cancelled', 'lost') "
            "OR (NEW.state = 'expired' AND OLD.state IN ('queued', 'running'))",
            "refunded",
        ),
    ):
        db.execute(
            f"""
            CREATE TRIGGER {name} AFTER UPDATE OF state ON jobs WHEN {when}
            BEGIN
                UPDATE charges SET state = '{charge_state}', updated_at = NEW.updated_at
                WHERE job_id = NEW.id AND state = 'reserved';
            END
            """
        )


@migrations()
def m008_trust(db: Database) -> None:
    """Whether a job's channel was age-restricted when it was accepted (``NULL``: not
    known, treated as restricted); charges by time for the operator's cap, which
    counts every server together by UTC day and month; interaction tokens by expiry,
    so expired ones are cleared."""
    db.execute("ALTER TABLE jobs ADD COLUMN age_restricted INTEGER")
    db.execute("CREATE INDEX charges_created ON charges(created_at, state, usd)")
    db.execute(
        "CREATE INDEX jobs_token_expiry ON jobs(interaction_expires_at) "
        "WHERE interaction_token IS NOT NULL"
    )


@migrations()
def m009_rules_in_python(db: Database) -> None:
    """The store now writes each job's events and settles, refunds and totals its charge
    itself, in the transaction of the change (the rules are in ``bot.domain.job_states``): the
    triggers of m006 and m007 go, and the column that carried a move's reason to them."""
    for trigger in (
        "jobs_first_event",
        "charges_reserve_spend",
        "charges_refund_spend",
        "jobs_state_event",
        "jobs_settle_charge",
        "jobs_refund_charge",
    ):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("ALTER TABLE jobs DROP COLUMN state_reason")


#: Failure templates with a field that were stored formatted before m010 (one field each).
_FORMATTED_FAILURES = (
    "Max API did not finish this job within {duration}. Atelier stopped waiting for it.",
    "Max API's moderation refused the prompt ({categories}). Change it and try again. "
    "You were not charged.",
    "Max API refused the request: {message}. You were not charged.",
    "Max API is busy. Try again in {seconds} s. You were not charged.",
    "Discord refused the post (code {code}).",
    "Discord could not find the channel (code {code}).",
)


@migrations()
def m010_failure_fields(db: Database) -> None:
    """A job's failure is kept as an English template (``failure_message``) and its fields,
    so it is shown in the reader's language; sentences stored formatted are split back."""
    db.execute("ALTER TABLE jobs ADD COLUMN failure_fields TEXT")
    rows = db.execute("SELECT id, failure_message FROM jobs WHERE failure_message IS NOT NULL")
    for job_id, sentence in rows.fetchall():
        for template in _FORMATTED_FAILURES:
            before, rest = template.split("{", 1)
            name, after = rest.split("}", 1)
            value = sentence[len(before) : len(sentence) - len(after)]
            if value and sentence == before + value + after:
                db.execute(
                    "UPDATE jobs SET failure_message = ?, failure_fields = ? WHERE id = ?",
                    [template, json.dumps({name: value}, ensure_ascii=False), job_id],
                )
                break


@migrations()
def m011_poll_claims(db: Database) -> None:
    """A poll's claim in its own column, so a restart can drop claims that no poll holds."""
    db.execute("ALTER TABLE jobs ADD COLUMN poll_claimed_until REAL")


#: m012 in SQL both databases read, so PostgreSQL's migrations apply the same statements.
M012_PROCESSES = (
    "ALTER TABLE jobs ADD COLUMN interaction_id BIGINT",
    "CREATE UNIQUE INDEX jobs_interaction ON jobs(interaction_id) WHERE interaction_id IS NOT NULL",
    "ALTER TABLE jobs ADD COLUMN owner TEXT",
    "ALTER TABLE jobs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0",
    "CREATE TABLE processes (id TEXT PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL, "
    "heartbeat_at DOUBLE PRECISION NOT NULL, shards TEXT)",
    "CREATE TABLE bot_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
    "updated_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE guild_facts (guild_id BIGINT PRIMARY KEY, facts TEXT NOT NULL, "
    "updated_at DOUBLE PRECISION NOT NULL)",
)


@migrations()
def m012_processes(db: Database) -> None:
    """Several processes: one job per interaction; who submits or delivers a job (its
    owner, lease and fencing counter); live processes by heartbeat; the command-sync
    digest and REST-read guild facts in the database."""
    for statement in M012_PROCESSES:
        db.execute(statement)


#: m013 in SQL both databases read: the moderator console's records.
M013_CONSOLE = (
    # Extra allowance a moderator granted a member for one day (grants add up).
    "CREATE TABLE grants (guild_id BIGINT NOT NULL, user_id BIGINT NOT NULL, day TEXT NOT NULL, "
    "images INTEGER NOT NULL DEFAULT 0, videos INTEGER NOT NULL DEFAULT 0, "
    "usd DOUBLE PRECISION NOT NULL DEFAULT 0, updated_at DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (guild_id, user_id, day))",
    # A charge a moderator gave back after it settled: who and why.
    "ALTER TABLE charges ADD COLUMN refunded_by BIGINT",
    "ALTER TABLE charges ADD COLUMN refund_reason TEXT",
    # Budget alerts already posted: one per guild, period and level, whoever posts first.
    "CREATE TABLE budget_alerts (guild_id BIGINT NOT NULL, period TEXT NOT NULL, "
    "level INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (guild_id, period, level))",
    # Members' reports of a result (once per member and result) and the moderators' review.
    "CREATE TABLE reports (job_id BIGINT NOT NULL, user_id BIGINT NOT NULL, guild_id BIGINT, "
    "at DOUBLE PRECISION NOT NULL, PRIMARY KEY (job_id, user_id))",
    "CREATE TABLE report_reviews (job_id BIGINT PRIMARY KEY, guild_id BIGINT, "
    "channel_id BIGINT, message_id BIGINT, state TEXT NOT NULL, decided_by BIGINT, "
    "updated_at DOUBLE PRECISION NOT NULL)",
    # The house style a job's prompt was given (its text is in the prompt as sent).
    "ALTER TABLE jobs ADD COLUMN style TEXT",
    # Max API was busy (429/503, nothing created): when the job tries again, and since
    # when it has waited (its budget runs from there).
    "ALTER TABLE jobs ADD COLUMN submit_after DOUBLE PRECISION",
    "ALTER TABLE jobs ADD COLUMN busy_since DOUBLE PRECISION",
)


@migrations()
def m013_console(db: Database) -> None:
    """The moderator console: day grants, refunds by a moderator, budget alerts sent,
    reports and their review."""
    for statement in M013_CONSOLE:
        db.execute(statement)


#: m014 in SQL both databases read: the creative loop's records.
M014_CREATIVE = (
    # A member's own defaults in one server (NULL: no preference) and how to be told.
    "CREATE TABLE member_prefs (guild_id BIGINT NOT NULL, user_id BIGINT NOT NULL, "
    "image_model TEXT, video_model TEXT, ratio TEXT, resolution TEXT, notify TEXT, "
    "updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (guild_id, user_id))",
    # Members whose DMs refused the bot: never tried again in a loop.
    "CREATE TABLE dm_closed (user_id BIGINT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)",
    # A job held for the member's Confirm (its cost is above the server's threshold):
    # nothing goes to Max API while it is set; cancelled once this time passes.
    "ALTER TABLE jobs ADD COLUMN confirm_by DOUBLE PRECISION",
    # When the owner's DM about the job's end was claimed (set once: one DM per job).
    "ALTER TABLE jobs ADD COLUMN dm_notified_at DOUBLE PRECISION",
    # /jobs history and /show search: a member's jobs in a server, newest first.
    "CREATE INDEX jobs_user_id ON jobs(guild_id, user_id, id)",
)


@migrations()
def m014_creative(db: Database) -> None:
    """The creative loop: members' preferences, closed DMs, jobs held for a cost
    confirmation."""
    for statement in M014_CREATIVE:
        db.execute(statement)
