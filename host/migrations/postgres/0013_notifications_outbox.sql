-- Notifications to employees (im.notify.*): written by robots and integrations, listed for the
-- user newest first, counted unread.
CREATE TABLE notifications (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    author_id BIGINT NOT NULL,
    module TEXT NOT NULL,
    tag TEXT,
    message TEXT NOT NULL,
    is_read BIGINT NOT NULL DEFAULT 0,
    run_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Email waiting for the mailer, and what became of it. A message is queued in the transaction
-- that records the run that wrote it, so it exists exactly when the run succeeded; `id` is also
-- its Message-ID, so a redelivery after a crash can be recognised by the receiver.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    run_id TEXT,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Tokens that carried every scope before the im scope existed keep carrying every scope.
UPDATE tokens SET scopes = scopes || ',im' WHERE scopes = 'crm,task,user,department';
