-- What a webhook token may call, as Bitrix24's scopes: a comma-separated list of crm, task, user,
-- department. Existing tokens keep every scope.
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'crm,task,user,department';
