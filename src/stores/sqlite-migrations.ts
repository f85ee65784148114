/** Versioned schema changes, applied in order once each. Never edit a shipped one: add the next. */
export const SQLITE_MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT,
        parent_id TEXT REFERENCES runs(id),
        project TEXT,
        state TEXT NOT NULL,
        budget INTEGER,          -- pico-dollars
        budget_tokens INTEGER,
        max_calls INTEGER,
        deadline_at INTEGER,     -- epoch ms
        created_at INTEGER NOT NULL,
        ended_at INTEGER
      );
      CREATE INDEX runs_created ON runs(created_at);
      CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        project TEXT,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        key_id TEXT,
        project TEXT,
        step TEXT,
        agent TEXT,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        protocol TEXT NOT NULL,
        stream INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost INTEGER NOT NULL,   -- pico-dollars, exact
        estimated INTEGER NOT NULL,
        status TEXT NOT NULL,
        http_status INTEGER NOT NULL,
        error_code TEXT,
        upstream_request_id TEXT,
        started_at INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        ttft_ms REAL
      );
      CREATE INDEX calls_run ON calls(run_id, started_at);
      CREATE INDEX calls_started ON calls(started_at);
    `,
  },
];
