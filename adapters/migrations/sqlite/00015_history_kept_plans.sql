-- A write may leave its history's plan (the rows it stores and removes) in
-- its revision row, filed into history_rows later with those of the
-- revisions around it (every 32nd revision of an entity, and before any
-- read of its rows): delta holds it until then, NULL once filed. Plans wait
-- only after every filed revision, so the newest rows tell (by the key).
-- +goose Up
ALTER TABLE `history_revisions` ADD `delta` text;
