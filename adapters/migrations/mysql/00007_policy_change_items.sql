-- What each write touched, for the changes feed; NULL in entries logged before.
-- MEDIUMTEXT: TEXT holds 64 KiB, the items of one write may hold more.
-- +goose Up
ALTER TABLE `policy_changes` ADD `items` mediumtext NULL;
