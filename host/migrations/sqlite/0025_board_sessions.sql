-- The board's sign-in: a user's password as an argon2 hash (none until an admin sets one), and
-- the sessions of signed-in browsers. A session is found by the SHA-256 of its cookie's secret,
-- so a copy of the database signs no one in; its CSRF token must come back with every change.
ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE sessions (
    secret_sha256 TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    -- Signed in with an admin token rather than a password: an administrator's session.
    with_admin_token INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
