-- On PostgreSQL, idx_history_rows_to keeps only the rows removed from here
-- on; on SQLite it did from 00012. Nothing to change: the number is kept the
-- same in every dialect.
-- +goose Up
SELECT 1;
