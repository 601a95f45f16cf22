-- On PostgreSQL, idx_history_rows_to keeps only the rows removed from here
-- on; on SQLite it did from 00012. Nothing to change: the number is kept the
-- same in every dialect.
-- Instances opening one SQLite file at once may each find this migration
-- to apply (goose looks before its transaction): the second to run it
-- fails (json() of a version is malformed JSON) and is rolled back, as a
-- migration that changes the schema would be, so that it is recorded once.
-- +goose Up
SELECT json(version_id || ' was applied by another instance') FROM goose_db_version WHERE version_id = 13;
