-- The task inbox: each task distributed from now on is delivered to its assignee, which acknowledges,
-- reports progress and completes or fails it; a lapsed assignee's task goes back to distribution.
-- `gateway.task_assignments` stays the record of each task's current assignment (and so of every
-- instance's load): a redistribution updates its row. Assignments made before this migration were
-- never delivered to anyone and are not tasks of the inbox.
CREATE TABLE gateway.tasks (
    task_id              uuid             PRIMARY KEY REFERENCES gateway.task_assignments ON DELETE CASCADE,
    distributor          text             NOT NULL,
    state                text             NOT NULL
        CHECK (state IN ('pending', 'assigned', 'acknowledged', 'succeeded', 'failed')),
    -- The region to prefer when the task is distributed again.
    preferred_region     text             NOT NULL,
    -- The current assignee's instance name (what its credential is bound to); kept while pending.
    assignee_name        text             NOT NULL,
    -- Where the task stands in its assignee's inbox: taken from gateway.task_cursor at every
    -- (re)assignment, under the assignment lock, so cursors are committed in increasing order.
    delivery_cursor      bigint           NOT NULL,
    acknowledge_deadline timestamptz,
    assignment_count     integer          NOT NULL DEFAULT 1,
    -- Instances that lapsed on this task, avoided while another eligible instance is active.
    lapsed_instance_ids  uuid[]           NOT NULL DEFAULT '{}',
    progress             double precision CHECK (progress BETWEEN 0 AND 1),
    status_message       text             NOT NULL DEFAULT '',
    result               jsonb,
    error_message        text             NOT NULL DEFAULT '',
    version              bigint           NOT NULL DEFAULT 1,
    created_at           timestamptz      NOT NULL DEFAULT now(),
    updated_at           timestamptz      NOT NULL DEFAULT now()
);
CREATE SEQUENCE gateway.task_cursor;
-- An inbox: unacknowledged tasks of one instance in cursor order.
CREATE INDEX tasks_inbox ON gateway.tasks (assignee_name, delivery_cursor) WHERE state = 'assigned';
-- What the lapse sweep looks at: the tasks not ended yet.
CREATE INDEX tasks_open ON gateway.tasks (state) WHERE state IN ('pending', 'assigned', 'acknowledged');
CREATE INDEX tasks_by_assignee ON gateway.tasks (assignee_name, created_at DESC, task_id DESC);
CREATE INDEX tasks_by_distributor ON gateway.tasks (distributor, created_at DESC, task_id DESC);

-- `cerebro_gateway` (0003) writes tasks and moves an assignment to another instance on redistribution;
-- it still deletes nothing.
GRANT SELECT, INSERT, UPDATE ON gateway.tasks TO cerebro_gateway;
GRANT UPDATE ON gateway.task_assignments TO cerebro_gateway;
GRANT USAGE ON SEQUENCE gateway.task_cursor TO cerebro_gateway;
