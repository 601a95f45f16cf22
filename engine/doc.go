// Package engine answers checks in memory. It meets the service through two
// things only: a Loader, from which it reads an entity's compiled rules, and
// a Delta, what one committed write changed, which it applies to the policy
// it holds. It imports the domain (package rolegate), never the service.
//
// # Compilation
//
// A role's rights compile to Casbin p rules, an assignment to a g rule (see
// model.conf at the root); the output is sorted, so equal roles give equal
// rules:
//
//	p, r:<role_id>, <entity>, <object_type>, <action>, <cond>, allow|deny
//	p, u:<user_id>, ...                                   a user's own rights
//	g, u:<user_id>, r:<role_id>, <entity>[, <expires_at_ms>]      entity-wide
//	g, s:<scope>|<user_id>, r:<role_id>, <entity>[, <expires_at_ms>] in scope
//
// cond is any, own, or for a right with a condition any:<hash> / own:<hash>,
// the hash (condition.Hash) naming the source stored beside the rules
// (Conditions; Policy.Conditions, Delta.Conditions).
// not_allowed compiles to nothing; denied is a deny that beats any allow. A
// user's subject longer than a casbin_rule column (100 bytes) is stored as
// u#<sha256 of the id> or s#<sha256 of scope|id>: checks hash the same way,
// and the loader and each delta name the user behind every such subject
// (Policy.Hashed, Delta.Hashed) for the answers that list users.
//
// # Checks
//
// Each entity is loaded on first use into an immutable snapshot: one unit
// per subject (a role, or a user with own rights) holding its p rules by
// object type, and the g rules as user -> roles. A check gathers the units
// of the subjects the user holds (entity-wide, in the scope, not expired)
// for the object type and wildcards, and Casbin decides over those rules
// only; the deciding value and the explanation are read from the same
// rules (an oracle test keeps the two readings equal). A write installs a
// new snapshot sharing what it did not touch. Answers are cached per
// snapshot, within a global budget; cold entities are evicted. A check
// never allows on error.
//
// # Conditions
//
// A snapshot holds the conditions its rules name, by hash, each compiled on
// first use through one engine-wide condition.Cache (a source that does not
// compile keeps its error), and the users' attributes. The matcher's plain
// any/own tests come first, so that only a conditional rule reaches cond(),
// which evaluates its condition over the check's resource, the user's
// attributes and the engine's clock, once per check (the decider remembers
// the value for the deciding value and the explanation). An allow counts
// only when its condition is true; a deny applies when it is true or cannot
// be evaluated (a missing attribute, a wrong type, an unknown condition). A
// decision that read a condition is never cached, so every cached answer
// holds whatever the attributes. Who-can with a resource evaluates
// conditions per user; without one, and in effective rights, reports and
// dry runs, a right held under conditions carries them: the allowing ones
// joined with ||, and-not the conditional denies that may apply.
package engine
