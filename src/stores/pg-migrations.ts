/**
 * Versioned schema changes of the PostgreSQL ledger, applied in order once each, in one
 * transaction per version. Never edit a shipped one: append the next. Version numbers
 * match the SQLite ledger's (sqlite-migrations.ts), so a change lands as the same version
 * in both. Money is BIGINT pico-dollars (sums are NUMERIC, exact); booleans are 0/1
 * SMALLINTs like SQLite's, so both ledgers share their row readers.
 */
export const PG_MIGRATIONS: { version: number; sql: string }[] = [
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
        budget BIGINT,
        budget_tokens BIGINT,
        max_calls BIGINT,
        deadline_at BIGINT,
        created_at BIGINT NOT NULL,
        ended_at BIGINT
      );
      CREATE INDEX runs_created ON runs(created_at);
      CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        project TEXT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE TABLE calls (
        seq BIGSERIAL,
        id TEXT PRIMARY KEY,
        run_id TEXT,
        key_id TEXT,
        project TEXT,
        step TEXT,
        agent TEXT,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        protocol TEXT NOT NULL,
        stream SMALLINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        cache_read_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost BIGINT NOT NULL,
        estimated SMALLINT NOT NULL,
        status TEXT NOT NULL,
        http_status INTEGER NOT NULL,
        error_code TEXT,
        upstream_request_id TEXT,
        started_at BIGINT NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        ttft_ms DOUBLE PRECISION
      );
      CREATE INDEX calls_run ON calls(run_id, started_at);
      CREATE INDEX calls_started ON calls(started_at);
    `,
  },
  {
    version: 2,
    sql: `
      ALTER TABLE runs ADD COLUMN overflow_policy TEXT NOT NULL DEFAULT 'clamp';
      ALTER TABLE runs ADD COLUMN ended_reason TEXT;
      ALTER TABLE runs ADD COLUMN key_id TEXT REFERENCES keys(id);
      CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        key_id TEXT,
        project TEXT,
        step TEXT,
        agent TEXT,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        protocol TEXT NOT NULL,
        stream SMALLINT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        reserved BIGINT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE budgets (
        scope TEXT PRIMARY KEY,
        money BIGINT,
        tokens BIGINT,
        calls BIGINT,
        "window" TEXT NOT NULL,
        soft_threshold DOUBLE PRECISION,
        webhook TEXT,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE thresholds_fired (
        scope TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        fired_at BIGINT NOT NULL,
        PRIMARY KEY (scope, window_start)
      );
      CREATE INDEX calls_key ON calls(key_id, started_at);
      CREATE INDEX calls_project ON calls(project, started_at);
      CREATE INDEX runs_parent ON runs(parent_id);
    `,
  },
  {
    version: 3,
    sql: `
      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        call_id TEXT NOT NULL,
        tool_call_id TEXT,
        tool TEXT NOT NULL,
        arguments TEXT NOT NULL,
        protocol TEXT NOT NULL,
        model TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        decided_by TEXT,
        note TEXT,
        decided_at BIGINT
      );
      CREATE INDEX approvals_state ON approvals(state, created_at);
      CREATE INDEX approvals_run ON approvals(run_id, created_at);
      CREATE TABLE approval_policies (
        scope TEXT PRIMARY KEY,
        tools TEXT NOT NULL,
        timeout_ms BIGINT,
        on_deny TEXT,
        webhook TEXT,
        updated_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 4,
    sql: `
      CREATE TABLE principals (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        projects TEXT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        run_id TEXT,
        target TEXT,
        note TEXT
      );
      CREATE INDEX audit_run ON audit(run_id, at);
    `,
  },
  {
    version: 5,
    sql: `
      -- Output contracts (as SQLite v5): what judged each call's output, the verdict, why it failed.
      ALTER TABLE calls ADD COLUMN contract_verdict TEXT NOT NULL DEFAULT 'none';
      ALTER TABLE calls ADD COLUMN contract_name TEXT;
      ALTER TABLE calls ADD COLUMN contract_version INTEGER;
      ALTER TABLE calls ADD COLUMN contract_violation TEXT;
      ALTER TABLE calls ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE calls ADD COLUMN retry_of TEXT;
      CREATE INDEX calls_failed ON calls(started_at) WHERE contract_verdict = 'failed';
      CREATE TABLE contracts (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        schema TEXT NOT NULL,
        description TEXT,
        created_at BIGINT NOT NULL,
        created_by TEXT,
        PRIMARY KEY (name, version)
      );
    `,
  },
  {
    version: 6,
    sql: `
      -- Forecasting (as SQLite v6): each run's declared task and forecast; imported history.
      CREATE TABLE run_tasks (
        run_id TEXT PRIMARY KEY,
        task_group TEXT,
        model TEXT,
        input_tokens BIGINT,
        features TEXT NOT NULL,
        forecast TEXT,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE history_runs (
        id TEXT PRIMARY KEY,
        task_group TEXT NOT NULL,
        model TEXT,
        input_tokens BIGINT,
        features TEXT NOT NULL,
        used_input_tokens BIGINT NOT NULL,
        used_output_tokens BIGINT NOT NULL,
        calls BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        outcome TEXT,
        finished_at BIGINT,
        imported_at BIGINT NOT NULL
      );
      CREATE INDEX history_runs_finished ON history_runs(finished_at);
    `,
  },
  {
    version: 7,
    sql: `
      -- The routing policy (intime/auto:<policy>) a call was an attempt of (as SQLite v7).
      ALTER TABLE calls ADD COLUMN route_policy TEXT;
    `,
  },
  {
    version: 8,
    sql: `
      -- Precedents (as SQLite v8): failures written down where they happened, merged when they repeat.
      CREATE TABLE precedents (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        pipeline TEXT,
        stage TEXT,
        model TEXT,
        tool TEXT,
        contract TEXT,
        what TEXT NOT NULL,
        evidence TEXT NOT NULL,
        signature TEXT NOT NULL,
        features TEXT NOT NULL,
        fix TEXT,
        fix_source TEXT,
        fix_call_id TEXT,
        merge_key TEXT NOT NULL UNIQUE,
        project TEXT,
        count INTEGER NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        retired SMALLINT NOT NULL DEFAULT 0,
        last_run_id TEXT,
        last_call_id TEXT,
        created_by TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX precedents_stage ON precedents(stage, retired);
      CREATE INDEX precedents_updated ON precedents(updated_at);
      CREATE TABLE precedent_occurrences (
        seq BIGSERIAL PRIMARY KEY,
        precedent_id TEXT NOT NULL,
        call_id TEXT,
        run_id TEXT,
        at BIGINT NOT NULL,
        injected SMALLINT NOT NULL
      );
      CREATE INDEX precedent_occurrences_precedent ON precedent_occurrences(precedent_id, at);
      CREATE INDEX precedent_occurrences_call ON precedent_occurrences(call_id);
      -- Which precedents were injected into a call's prompt: JSON [{"id","tokens","relevance"}].
      ALTER TABLE calls ADD COLUMN precedents_injected TEXT;
      ALTER TABLE calls ADD COLUMN precedent_tokens INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX calls_precedents ON calls(started_at) WHERE precedents_injected IS NOT NULL;
    `,
  },
];
