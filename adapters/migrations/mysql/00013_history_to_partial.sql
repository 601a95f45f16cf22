-- On PostgreSQL, idx_history_rows_to keeps only the rows removed from here
-- on. MySQL has no partial indexes, and InnoDB keeps statistics from the
-- first write, so that its planner reads a write's rows in force by
-- idx_history_rows_subject: nothing to change; the number is kept the same
-- in every dialect.
-- +goose Up
SELECT 1;
