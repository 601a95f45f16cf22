-- What each write touched, for the changes feed; NULL in entries logged before.
-- +goose Up
ALTER TABLE `policy_changes` ADD `items` text;
