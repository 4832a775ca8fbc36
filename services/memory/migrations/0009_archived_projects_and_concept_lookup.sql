-- Projects can be archived (AgentGateway.ArchiveProject): kept with their episodes, no longer worked on.
ALTER TABLE memory.projects DROP CONSTRAINT projects_status_check;
ALTER TABLE memory.projects ADD CONSTRAINT projects_status_check
    CHECK (status IN ('active', 'completed', 'paused', 'archived'));

-- Knowledge looked up by its concept, ignoring case, newest first (AgentGateway.LookupKnowledge).
CREATE INDEX semantic_memories_concept_idx
    ON memory.semantic_memories (namespace, lower(concept), created_at DESC, semantic_memory_id DESC);
