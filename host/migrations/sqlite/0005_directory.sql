-- The company directory robots assign work to and notify: users with their details, and a tree
-- of departments, each with a head. A fresh install has one department, the company, headed by
-- the first administrator.
ALTER TABLE users ADD COLUMN last_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN work_position TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX users_email ON users (email);
INSERT INTO sequences (name, next_id) SELECT 'user', COALESCE(MAX(id), 0) + 1 FROM users;

CREATE TABLE departments (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    sort BIGINT NOT NULL,
    parent_id BIGINT REFERENCES departments(id),
    head_id BIGINT REFERENCES users(id)
);
CREATE INDEX departments_parent ON departments (parent_id);

CREATE TABLE user_departments (
    user_id BIGINT NOT NULL REFERENCES users(id),
    department_id BIGINT NOT NULL REFERENCES departments(id),
    PRIMARY KEY (user_id, department_id)
);
CREATE INDEX user_departments_department ON user_departments (department_id);

INSERT INTO departments (id, name, sort, parent_id, head_id) VALUES (1, 'Company', 500, NULL, 1);
INSERT INTO user_departments (user_id, department_id) VALUES (1, 1);
INSERT INTO sequences (name, next_id) VALUES ('department', 2);
