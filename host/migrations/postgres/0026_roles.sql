-- Access permissions as Bitrix24's CRM roles: a role says, per entity type, which items a user
-- may read, add, update and delete (none, own, department, all) and whether the type's
-- automation rules may be read or changed. Users get roles; a user with none has role 1.
CREATE TABLE roles (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users(id),
    role_id BIGINT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (role_id);

-- Every employee may work with every item, and no one but administrators changes automation
-- rules, as before roles existed.
INSERT INTO roles (id, name, permissions, created_at) VALUES (1, 'Employee',
    '{"lead":{"read":"all","add":"all","update":"all","delete":"all","automation":"none"},"deal":{"read":"all","add":"all","update":"all","delete":"all","automation":"none"},"contact":{"read":"all","add":"all","update":"all","delete":"all","automation":"none"},"company":{"read":"all","add":"all","update":"all","delete":"all","automation":"none"},"dynamic":{"read":"all","add":"all","update":"all","delete":"all","automation":"none"}}',
    0);
INSERT INTO sequences (name, next_id) VALUES ('role', 2);
