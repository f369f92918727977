-- Absences from the directory's absence calendar (vacation, sick leave, business trip): a user is
-- absent from `starts_at` up to, not including, `ends_at` (ms since the epoch, UTC, as every
-- stored time). Robots that hand out work skip users absent at the scheduler's clock.
CREATE TABLE user_absences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('vacation', 'sick_leave', 'business_trip', 'other')),
    comment TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX user_absences_user ON user_absences (user_id, ends_at);
