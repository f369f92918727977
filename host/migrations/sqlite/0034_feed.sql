-- The Activity Stream (host/src/feed.rs): posts in the company feed, each optionally about a CRM
-- item (a robot's post names the item it ran for), and employees' comments on them.
CREATE TABLE feed_posts (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    entity_type TEXT,
    item_id INTEGER,
    run_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX feed_posts_item ON feed_posts (entity_type, item_id);

CREATE TABLE feed_comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id INTEGER NOT NULL,
    author_id INTEGER NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX feed_comments_post ON feed_comments (post_id, id);
