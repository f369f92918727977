-- Tasks (Bitrix24's tasks module), bound to CRM items by `crm_bindings` (JSON list like ["D_12"]),
-- and CRM activities (meetings, calls, to-dos) on one item's timeline. Times are milliseconds.
CREATE TABLE tasks (
    id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    responsible_id BIGINT NOT NULL REFERENCES users(id),
    created_by BIGINT NOT NULL REFERENCES users(id),
    status BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    deadline BIGINT,
    crm_bindings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX tasks_responsible ON tasks (responsible_id, status);

CREATE TABLE activities (
    id BIGINT PRIMARY KEY,
    owner_type TEXT NOT NULL,
    owner_id BIGINT NOT NULL,
    type_id BIGINT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    responsible_id BIGINT NOT NULL REFERENCES users(id),
    author_id BIGINT NOT NULL,
    start_time BIGINT,
    end_time BIGINT,
    deadline BIGINT,
    completed BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    direction BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX activities_owner ON activities (owner_type, owner_id);
CREATE INDEX activities_responsible ON activities (responsible_id, completed);
