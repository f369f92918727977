-- The robot that created a task, if one did: the "complete task" action can close only the tasks
-- a given robot made (tasks.rs, contract 0.1.5's crm.complete-tasks).
ALTER TABLE tasks ADD COLUMN robot_id TEXT;
