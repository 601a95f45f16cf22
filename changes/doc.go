// Package changes keeps instances and clients in step with committed writes.
//
// Every write takes its entity to a new revision and appends, in the same
// transaction, an entry to the change log (changelog.go): the engine's delta
// and the items the write touched (feeditems.go). Three readers follow it:
//
//   - an engine holding an older revision catches up from the log's deltas
//     (Deltas) rather than reloading the entity;
//   - the changes feed (feed.go) pages the items to clients, long-polling
//     without holding a connection;
//   - the Syncer (sync.go) tells other instances of a revision (a Notifier,
//     Redis) and sweeps the store's revisions for what was missed.
//
// A check's min_revision is bounded by the store's revision (Reachable).
//
// The package knows the engine and the store only through the small
// interfaces it declares (Engine, Revisions, LogStore, LogReader,
// ItemReader); it does not import the service.
package changes
