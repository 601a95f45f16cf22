// Package auth says who a call comes from: the bootstrap admin token, the
// tokens Rolegate issues to API clients, and an identity provider's tokens.
// It imports the domain (package rolegate) and nothing of policy: policy and
// handlers import it.
//
//	actor.go          Actor (the caller), token scopes, WithActor, Internal
//	admin.go          the bootstrap admin token (Authenticator)
//	clients.go        Client, a new client's secret, VerifyClient, SecretGate
//	tokens.go         Tokens: issuing and verifying JWTs; what is believed of clients
//	tokencache.go     tokens whose signature was verified
//	memo.go           what the store last said of clients and entities
//	keys.go           signing keys: at rest (sealed with a KEK), rotation
//	store.go          ClientStore, SettingStore, Store: the persistence auth needs
//
// Client administration (create, list, delete, with the audit log) is the
// Service's, in policy; it tells Tokens of deletions through Events.
package auth
