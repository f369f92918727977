-- Tasks get Bitrix24's observers (AUDITORS) and co-executors (ACCOMPLICES): JSON lists of user ids.
ALTER TABLE tasks ADD COLUMN auditors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN accomplices TEXT NOT NULL DEFAULT '[]';
