// Package rolegate holds what the whole program shares: the domain's types
// (entities, roles, users, assignments, rules), its coded errors, and the
// Casbin model every entity's enforcer is built from. The packages that do
// the work are policy (the domain), adapters (storage) and handlers (HTTP);
// cmd/rolegate wires them.
package rolegate

import _ "embed"

// CasbinModel is the text of model.conf, embedded in the binary.
//
//go:embed model.conf
var CasbinModel string
