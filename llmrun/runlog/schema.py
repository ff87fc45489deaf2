"""The tables of the run log, and how an older file becomes the current one.

`PRAGMA user_version` is the schema's version. A new file gets every table at once; a file
of an older version is migrated in one transaction by the steps of MIGRATIONS; a file of a
newer version (a newer llmrun wrote it) is left alone and not written. The README's "Run log"
section documents every table and column; keep the two in step.

Wide texts live away from the columns that `log` and `log cost` scan: `runs` holds what a
listing needs (the prompt and the answer too), `transcripts` the messages and the --json
object, so scanning 100,000 runs stays fast.
"""

from __future__ import annotations

from typing import Any, Dict, List

VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,          -- short, sorts by time
    started_at TEXT NOT NULL,     -- ISO 8601, local time with its UTC offset
    started_ts REAL NOT NULL,     -- the same as Unix seconds
    ended_at TEXT,
    duration_s REAL,
    status TEXT NOT NULL,         -- running, done, killed (running rows are judged on reading)
    exit_code INTEGER,            -- null while running or killed
    error_type TEXT,
    error_message TEXT,
    kind TEXT,                    -- ask, batch, api
    provider TEXT,
    base_url TEXT,
    requested_model TEXT,
    model TEXT,                   -- as the server reported it, else as requested
    steps INTEGER NOT NULL DEFAULT 0,
    tool_call_count INTEGER NOT NULL DEFAULT 0,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,                    -- USD as reported (or priced); null when unknown
    cost_pusd INTEGER,            -- the same in picodollars, summed exactly
    batch_id TEXT,
    item_id TEXT,
    cwd TEXT,
    host TEXT,
    pid INTEGER,
    boot_id TEXT,
    proc_start TEXT,              -- with pid and boot_id: is the writer still alive?
    mode TEXT NOT NULL,           -- full, or metadata (no texts kept)
    cut INTEGER NOT NULL DEFAULT 0,  -- 1: a text was cut at 1 MiB (see cuts)
    argv TEXT,                    -- JSON list
    tools TEXT,                   -- JSON list of the tool names offered
    tool_sources TEXT,            -- JSON {tool: "file.yaml" | "mcp:SERVER"}
    attachments TEXT,             -- JSON [{path, type, size, sha256}]
    warnings TEXT,                -- JSON list of warning lines
    system TEXT,
    prompt TEXT,
    answer TEXT,
    reasoning TEXT,
    data TEXT                     -- JSON: the --schema answer, parsed
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_ts);
CREATE INDEX IF NOT EXISTS runs_batch ON runs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_running ON runs (status) WHERE status = 'running';

CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    ended_at TEXT,
    model TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
    reasoning_tokens INTEGER, cached_tokens INTEGER, cache_write_tokens INTEGER,
    cost REAL,
    duration_s REAL,
    text TEXT,
    reasoning TEXT,
    request TEXT,                 -- JSON body as sent; messages as {"from": N, "new": [...]}
    response TEXT,                -- JSON: the response as normalised, redacted events
    PRIMARY KEY (run_id, step)
);

CREATE TABLE IF NOT EXISTS tool_calls (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,    -- 1, 2, … in the run's call order
    step INTEGER NOT NULL,
    call_id TEXT,
    tool TEXT,
    source TEXT,                  -- the YAML file, or mcp:SERVER
    arguments TEXT,               -- the arguments string as the model streamed it
    result TEXT,
    is_error INTEGER,
    duration_s REAL,
    ended_at TEXT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX IF NOT EXISTS tool_calls_tool ON tool_calls (tool);

CREATE TABLE IF NOT EXISTS transcripts (
    run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    messages TEXT,                -- JSON: the conversation as --continue resends it
    result TEXT                   -- JSON: the --json object as printed
);

CREATE TABLE IF NOT EXISTS cuts (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    what TEXT NOT NULL,           -- prompt, answer, step 2 text, tool call 3 result, …
    full_bytes INTEGER NOT NULL   -- its length in UTF-8 bytes before the cut
);
CREATE INDEX IF NOT EXISTS cuts_run ON cuts (run_id);
"""

#: Full-text search over prompts, answers and tool results (`llmrun log --search`).
SEARCH = ("CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5 "
          "(text, run_id UNINDEXED, kind UNINDEXED)")

#: version -> the statements that turn a file of that version into the next one.
MIGRATIONS: Dict[int, List[str]] = {}


def ensure(conn: Any) -> bool:
    """Bring the file to VERSION inside one write transaction; False when a newer llmrun
    wrote it (then it must not be written). True also when FTS5 is missing: search falls
    back to a plain scan."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == VERSION:
        return True
    if version > VERSION:
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another may have won
        if version == 0:
            for statement in _statements(TABLES):
                conn.execute(statement)
            if has_fts5(conn):
                conn.execute(SEARCH)
        else:
            while version < VERSION:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                version += 1
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def has_fts5(conn: Any) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5 (x)")
        conn.execute("DROP TABLE temp.fts5_probe")
        return True
    except Exception:
        return False


def has_search(conn: Any) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search'").fetchone()
    return row is not None


def _statements(script: str) -> List[str]:
    """The script's statements, comments dropped (execute() takes one at a time)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
