-- Every entity gets an incarnation (a random id, new each time an entity is
-- made under an id) and every client of an entity its entity's incarnation.
-- Clients bound to an entity that no longer exists (left behind by deletions
-- before this migration) are deleted: they would otherwise come back to life
-- when the id is used again.
-- +goose Up
ALTER TABLE `entities` ADD `incarnation` text NOT NULL DEFAULT "";
ALTER TABLE `clients` ADD `entity_incarnation` text NOT NULL DEFAULT "";
-- A random (version 4) UUID per row.
UPDATE entities SET incarnation = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
	|| substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))
	WHERE incarnation = '';
DELETE FROM clients WHERE entity_id <> '' AND entity_id NOT IN (SELECT id FROM entities);
UPDATE clients SET entity_incarnation = (SELECT incarnation FROM entities WHERE entities.id = clients.entity_id)
	WHERE entity_id <> '' AND entity_incarnation = '';
