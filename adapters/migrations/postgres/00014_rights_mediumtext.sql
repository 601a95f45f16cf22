-- On MySQL, roles' and users' rights move to mediumtext: a text column
-- could not hold 1,000 rights of long object types with conditions. Here
-- text has no such bound: nothing to change; the number is kept the same in
-- every dialect.
-- +goose Up
SELECT 1;
