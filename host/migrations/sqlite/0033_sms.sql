-- Text messages (host/src/sms.rs) share the outbox with email: each row names its channel, and
-- each channel's courier claims only its own. Employees get a mobile number for them.
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (channel, status, next_attempt_at);
ALTER TABLE users ADD COLUMN personal_mobile TEXT;
