-- idx_history_rows_to keeps only the rows removed (valid_to set), as on
-- SQLite since 00012: the spans and sweeps read those. Holding every row, it
-- matched a write's read of the rows in force of its subjects (entity_id,
-- valid_to IS NULL) as well as idx_history_rows_subject does, and a table
-- without statistics (before ANALYZE or autovacuum first ran) made the
-- planner pick it and read every row in force of the entity: 80 ms a write
-- on a tenant of 220,000 rules instead of 0.4 ms.
-- +goose Up
DROP INDEX idx_history_rows_to;
CREATE INDEX idx_history_rows_to ON history_rows (entity_id, valid_to) WHERE valid_to IS NOT NULL;
