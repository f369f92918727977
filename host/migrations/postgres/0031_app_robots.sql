-- Bitrix24 apps' own robots (host/src/apps.rs): each registration (bizproc.robot.add) as JSON
-- under its code; and one handler call per run, the SHA-256 of its event token and the answer
-- bizproc.event.send brought, kept until the run ends.
CREATE TABLE app_robots (
    code TEXT PRIMARY KEY,
    registration TEXT NOT NULL,
    registered_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE app_calls (
    run_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    answer TEXT,
    answered_at BIGINT
);
