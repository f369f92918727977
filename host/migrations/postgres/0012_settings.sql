-- Host-wide settings an admin changes at run time, by name, as JSON (the business-hours calendar
-- robots count working-time delays in).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
