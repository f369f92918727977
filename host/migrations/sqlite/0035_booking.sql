-- Resources and their bookings (host/src/booking.rs): rooms, equipment or people, each with a
-- calendar of bookings that may not overlap; a booking a robot made names its item and run.
CREATE TABLE booking_resources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE bookings (
    id INTEGER PRIMARY KEY,
    resource_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    user_id INTEGER,
    entity_type TEXT,
    item_id INTEGER,
    run_id TEXT,
    created_at INTEGER NOT NULL,
    cancelled_at INTEGER
);
CREATE INDEX bookings_resource ON bookings (resource_id, starts_at);
