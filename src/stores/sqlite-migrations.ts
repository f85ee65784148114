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
  {
    version: 2,
    sql: `
      ALTER TABLE runs ADD COLUMN overflow_policy TEXT NOT NULL DEFAULT 'clamp';
      ALTER TABLE runs ADD COLUMN ended_reason TEXT;
      ALTER TABLE runs ADD COLUMN key_id TEXT REFERENCES keys(id);
      -- A reservation is written before a call is forwarded and deleted with its settlement;
      -- rows left here after a crash are the calls that were in flight when it happened.
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
        stream INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        reserved INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE budgets (
        scope TEXT PRIMARY KEY,  -- "key:<id>" or "project:<name>"
        money INTEGER,
        tokens INTEGER,
        calls INTEGER,
        window TEXT NOT NULL,
        soft_threshold REAL,
        webhook TEXT,
        updated_at INTEGER NOT NULL
      );
      -- Which soft thresholds already fired, so a restart does not fire them again.
      CREATE TABLE thresholds_fired (
        scope TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        fired_at INTEGER NOT NULL,
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
      -- Tool calls held for a decision; each links to its model call and run.
      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        call_id TEXT NOT NULL,
        tool_call_id TEXT,
        tool TEXT NOT NULL,
        arguments TEXT NOT NULL,
        protocol TEXT NOT NULL,
        model TEXT NOT NULL,
        state TEXT NOT NULL,       -- pending | approved | denied | timed_out | abandoned
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_by TEXT,
        note TEXT,
        decided_at INTEGER
      );
      CREATE INDEX approvals_state ON approvals(state, created_at);
      CREATE INDEX approvals_run ON approvals(run_id, created_at);
      -- Which tools need a decision, per scope: "global", "project:<p>", "key:<id>", "run:<id>".
      CREATE TABLE approval_policies (
        scope TEXT PRIMARY KEY,
        tools TEXT NOT NULL,       -- JSON array of names or globs
        timeout_ms INTEGER,
        on_deny TEXT,              -- strip | stop
        webhook TEXT,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 4,
    sql: `
      -- People and systems that may use the control API, besides the root admin token.
      CREATE TABLE principals (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        role TEXT NOT NULL,          -- admin | operator | viewer
        projects TEXT,               -- JSON array; NULL means every project
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      -- Who did what to which run, when, and why: every stop, pause, resume, approve, deny.
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
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
      -- Output contracts: what judged each call's output, the verdict, and why it failed.
      ALTER TABLE calls ADD COLUMN contract_verdict TEXT NOT NULL DEFAULT 'none'; -- passed | failed | none
      ALTER TABLE calls ADD COLUMN contract_name TEXT;
      ALTER TABLE calls ADD COLUMN contract_version INTEGER;
      ALTER TABLE calls ADD COLUMN contract_violation TEXT;
      -- Retries the library tags: attempt 2 of a stage says which call it retries.
      ALTER TABLE calls ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE calls ADD COLUMN retry_of TEXT;
      CREATE INDEX calls_failed ON calls(started_at) WHERE contract_verdict = 'failed';
      -- Contracts registered by API; a new registration of a name is its next version.
      CREATE TABLE contracts (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        schema TEXT NOT NULL,       -- JSON Schema, as JSON text
        description TEXT,
        created_at INTEGER NOT NULL,
        created_by TEXT,
        PRIMARY KEY (name, version)
      );
    `,
  },
  {
    version: 6,
    sql: `
      -- What a run was declared to be when it was created (its group, model, input size and
      -- features), and the forecast made for it then: forecast vs actual, and history to learn from.
      CREATE TABLE run_tasks (
        run_id TEXT PRIMARY KEY,
        task_group TEXT,
        model TEXT,
        input_tokens INTEGER,
        features TEXT NOT NULL,      -- JSON object
        forecast TEXT,               -- JSON: the forecast (USD as numbers, approximate)
        created_at INTEGER NOT NULL
      );
      -- Finished runs from elsewhere (intime runs import), learned from like the ledger's own.
      CREATE TABLE history_runs (
        id TEXT PRIMARY KEY,
        task_group TEXT NOT NULL,
        model TEXT,
        input_tokens INTEGER,        -- the task's input size, when known
        features TEXT NOT NULL,      -- JSON object
        used_input_tokens INTEGER NOT NULL,
        used_output_tokens INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        cost_usd REAL NOT NULL,      -- a forecasting input, not ledger money
        outcome TEXT,
        finished_at INTEGER,
        imported_at INTEGER NOT NULL
      );
      CREATE INDEX history_runs_finished ON history_runs(finished_at);
    `,
  },
  {
    version: 7,
    sql: `
      -- The routing policy (intime/auto:<policy>) a call was an attempt of; NULL for a model asked by name.
      ALTER TABLE calls ADD COLUMN route_policy TEXT;
    `,
  },
  {
    version: 8,
    sql: `
      -- Precedents: failures written down where they happened (contract violations, halted
      -- stages, exhausted budgets, stops with a note, denied approvals), merged when they repeat.
      CREATE TABLE precedents (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        pipeline TEXT,               -- the run's name
        stage TEXT,                  -- the call's step
        model TEXT,
        tool TEXT,
        contract TEXT,
        what TEXT NOT NULL,          -- redacted, capped
        evidence TEXT NOT NULL,      -- redacted, capped
        signature TEXT NOT NULL,     -- the task's normalized text
        features TEXT NOT NULL,      -- JSON object
        fix TEXT,
        fix_source TEXT,             -- retry | escalation | operator
        fix_call_id TEXT,            -- the call whose pass supplied an inferred fix
        merge_key TEXT NOT NULL UNIQUE,
        project TEXT,
        count INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0,
        last_run_id TEXT,
        last_call_id TEXT,
        created_by TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX precedents_stage ON precedents(stage, retired);
      -- Every time a precedent's failure happened, and whether that call had been told of it.
      CREATE TABLE precedent_occurrences (
        precedent_id TEXT NOT NULL,
        call_id TEXT,
        run_id TEXT,
        at INTEGER NOT NULL,
        injected INTEGER NOT NULL    -- 1 when the failing call carried this precedent
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
