-- On MySQL, roles' and users' rights move to mediumtext: a text column
-- could not hold 1,000 rights of long object types with conditions. Here
-- text has no such bound: nothing to change; the number is kept the same in
-- every dialect.
-- Instances opening one SQLite file at once may each find this migration
-- to apply (goose looks before its transaction): the second to run it
-- fails (json() of a version is malformed JSON) and is rolled back, as a
-- migration that changes the schema would be, so that it is recorded once.
-- +goose Up
SELECT json(version_id || ' was applied by another instance') FROM goose_db_version WHERE version_id = 14;
