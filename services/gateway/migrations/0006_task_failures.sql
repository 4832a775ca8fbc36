-- A task its assignee fails goes to another eligible instance, one that has not failed it; it ends FAILED
-- only when no such instance is active. The instances that failed it, by name (what a credential is
-- bound to): never given the task again, and a failing assignee's retried FailTask is answered with
-- the task as it now is.
ALTER TABLE gateway.tasks ADD COLUMN failed_assignees text[] NOT NULL DEFAULT '{}';
