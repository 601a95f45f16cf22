package handlers

import "net/http"

// ErrorCode is one code of the error body, {"error":{"code":...}}: the status
// the native API answers it with, what it means and what the caller should
// do. ErrorCodes is the one list of them: docs/errors.md is generated from it
// and the OpenAPI document's NativeError enumerates it; a test finds every
// code the code uses and fails when one is missing here
// (go test ./handlers -run TestErrorCodes -update rewrites docs/errors.md).
type ErrorCode struct {
	Code    string
	Status  int
	Meaning string
	Do      string
}

// ErrorCodes lists every error code, grouped by status.
var ErrorCodes = []ErrorCode{
	// 400
	{"malformed_json", http.StatusBadRequest, "The body is not JSON, or not one JSON value.", "Send one well-formed JSON object."},
	{"invalid_request", http.StatusBadRequest, "The request cannot be read (a form or query that does not parse).", "Fix the request as the message says."},
	{"invalid_filter", http.StatusBadRequest, "A Papershift filter[...] parameter is not one the API knows, or its value is malformed.", "Use the documented filters."},
	{"invalid_api_version", http.StatusBadRequest, "The x-monite-version header is not a version the Monite facade serves.", "Send a supported x-monite-version (see the OpenAPI document)."},
	{"missing_api_version", http.StatusBadRequest, "The Monite facade needs the x-monite-version header.", "Send x-monite-version."},
	{"missing_entity", http.StatusBadRequest, "A platform-wide token called the Papershift facade without naming the entity.", "Send the X-Entity-Id header."},
	{"invalid_oid", http.StatusBadRequest, "The Dintero account id in the path is malformed.", "Use an id such as T12345678 or P12345678."},
	// 401
	{"unauthenticated", http.StatusUnauthorized, "No bearer token, or not one Rolegate knows.", "Send Authorization: Bearer with the admin token or a client's token."},
	{"invalid_token", http.StatusUnauthorized, "The token is malformed, expired, revoked, or signed by a key Rolegate does not trust.", "Get a new token (POST /v1/auth/token); check the clock and the identity provider's settings."},
	{"invalid_client", http.StatusUnauthorized, "The client id or secret is wrong, or the client was deleted.", "Check the client's credentials; create a new client if it was deleted."},
	// 403
	{"forbidden", http.StatusForbidden, "The caller is authenticated but may not do this.", "Ask for the right, or use a token that holds it."},
	{"insufficient_scope", http.StatusForbidden, "The client's token lacks the scope (check, manage, admin) the call needs.", "Use a client with that scope."},
	{"privilege_escalation", http.StatusForbidden, "The write would give a right the caller does not hold itself (or for longer than it holds it).", "Have someone who holds the right make the change."},
	{"system_role", http.StatusForbidden, "System roles cannot be changed or deleted.", "Create a custom role instead."},
	{"client_generated_id", http.StatusForbidden, "A Papershift create sent data.id; ids are made by the server.", "Leave data.id out."},
	// 404
	{"not_found", http.StatusNotFound, "What the call names does not exist (or belongs to another entity).", "Check the ids in the path."},
	{"route_not_found", http.StatusNotFound, "No route has this path (or the feature is off, such as /metrics).", "Check the path against the OpenAPI document."},
	{"entity_not_found", http.StatusNotFound, "The entity does not exist, or the caller may not see it.", "Check the entity id; create the entity first."},
	{"role_not_found", http.StatusNotFound, "The role does not exist in this entity.", "Check the role id (list the roles)."},
	{"user_not_found", http.StatusNotFound, "The user does not exist in this entity.", "Check the user id, or create the user."},
	{"assignment_not_found", http.StatusNotFound, "The user does not hold this role (in this scope).", "Nothing to remove; check the role and scope."},
	{"client_not_found", http.StatusNotFound, "The API client does not exist.", "Check the client id (list the clients)."},
	{"changes_unavailable", http.StatusNotFound, "This store keeps no change log, so there is no changes feed.", "Poll the objects instead."},
	{"constraint_not_found", http.StatusNotFound, "The separation-of-duties constraint does not exist in this entity.", "Check the constraint id (list the constraints)."},
	// 405
	{"method_not_allowed", http.StatusMethodNotAllowed, "The path exists, but not with this method; the Allow header lists the methods it takes.", "Use a method from Allow."},
	// 409
	{"conflict", http.StatusConflict, "The write conflicts with an existing object.", "Read the current state and retry."},
	{"entity_exists", http.StatusConflict, "An entity with this id exists already.", "Use it, or choose another id."},
	{"user_exists", http.StatusConflict, "A user with this id exists already in this entity.", "Update the user instead (PUT), or choose another id."},
	{"role_name_taken", http.StatusConflict, "Another active role of the entity (or a system role, in any spelling) has this name.", "Choose another name, or update that role."},
	{"role_in_use", http.StatusConflict, "Users hold the role, so it is not deleted.", "Take it from them first, or delete with force=true."},
	{"role_deleted", http.StatusConflict, "The role is deleted and cannot be given or changed.", "Use an active role."},
	{"last_default_role", http.StatusConflict, "The write would leave the entity without a default role.", "Make another role default first."},
	{"type_mismatch", http.StatusConflict, "A Papershift body's data.type is not the resource's type.", "Send the type the path serves."},
	{"id_mismatch", http.StatusConflict, "A Papershift body's data.id is not the id in the URL.", "Send the URL's id, or leave data.id out."},
	{"separation_of_duties", http.StatusConflict, "The write would let users hold two rights a constraint of the entity separates (or a constraint would be enforced over users who already do); nothing was written. The body's violations name the constraint, the users and how they hold the rights (the first 20).", "Take one of the rights from those users, give them an exception with an expiry, or store the constraint with mode report."},
	{"constraint_name_taken", http.StatusConflict, "Another constraint of the entity has this name.", "Choose another name, or replace that constraint (PUT)."},
	// 410
	{"changes_expired", http.StatusGone, "The changes feed no longer reaches back to the revision asked for.", "Read the objects anew, then follow the feed from the revision they carry."},
	// 412
	{"version_mismatch", http.StatusPreconditionFailed, "If-Match names a version that is no longer the current one: someone changed the object.", "Read it again and retry with its new ETag."},
	// 413
	{"payload_too_large", http.StatusRequestEntityTooLarge, "The body is larger than the route accepts (1 MiB; 8 MiB for imports).", "Send less, or split it (several imports)."},
	// 415
	{"unsupported_media_type", http.StatusUnsupportedMediaType, "The Content-Type is not one the route reads.", "Send application/json (the token endpoint also takes a form; Papershift application/vnd.api+json)."},
	// 422
	{"invalid_body", http.StatusUnprocessableEntity, "The JSON does not fit the request's shape.", "Send the fields the OpenAPI document describes."},
	{"unknown_field", http.StatusUnprocessableEntity, "The body has a field the request does not take.", "Remove it (check its spelling)."},
	{"invalid_type", http.StatusUnprocessableEntity, "A field has the wrong JSON type.", "Send the type the OpenAPI document gives."},
	{"missing_field", http.StatusUnprocessableEntity, "A required field is missing or empty.", "Send it; details name it."},
	{"missing_header", http.StatusUnprocessableEntity, "A required header is missing (the Monite facade's x-monite-entity-id).", "Send it."},
	{"invalid_field", http.StatusUnprocessableEntity, "A field is too long or malformed.", "Fix the field details names."},
	{"immutable_field", http.StatusUnprocessableEntity, "The write tries to change a field that cannot change (an id, a user's email).", "Send it unchanged or leave it out."},
	{"read_only_attribute", http.StatusUnprocessableEntity, "A Papershift write sets an attribute the server keeps.", "Send it back unchanged or leave it out."},
	{"invalid_name", http.StatusUnprocessableEntity, "A name is empty, too long or holds control characters.", "Use 1 to 255 printable characters (the message says which rule failed)."},
	{"invalid_email", http.StatusUnprocessableEntity, "The email is not an address.", "Send a valid address."},
	{"invalid_entity_id", http.StatusUnprocessableEntity, "The entity id is malformed.", "Use 1-64 characters of A-Za-z0-9._:-."},
	{"invalid_user_id", http.StatusUnprocessableEntity, "The user id is malformed.", "Use printable ASCII without spaces, within the documented length."},
	{"invalid_role_id", http.StatusUnprocessableEntity, "A role id is malformed.", "Send the id a role list gives."},
	{"invalid_scope", http.StatusUnprocessableEntity, "A scope (of an assignment, a check or a client) is malformed or unknown.", "Use a scope such as team:42; client scopes are check, manage and admin."},
	{"invalid_permissions", http.StatusUnprocessableEntity, "Rights are malformed: a bad object type, action or permission value.", "Use allowed, allowed_for_own, not_allowed or denied; details list every offender."},
	{"invalid_condition", http.StatusUnprocessableEntity, "A right's condition does not compile, is not a boolean, is longer than 4 KiB or may cost more than allowed, or is set on not_allowed; the message gives CEL's text with line:column, details the right.", "Fix the expression (docs/api.md, Conditions); leave not_allowed without one."},
	{"invalid_attributes", http.StatusUnprocessableEntity, "A check's resource or a user's attributes break the limits: more than 64 names, a name over 64 bytes, a string over 1,024 characters, a nested object, a list of objects; or who-can's resource is not a JSON object.", "Send a flat JSON object of null, booleans, numbers, strings and lists of those."},
	{"invalid_permission", http.StatusUnprocessableEntity, "A Monite permission value is not one Monite allows.", "Use allowed, allowed_for_own or not_allowed."},
	{"duplicate_permission", http.StatusUnprocessableEntity, "The same (object type, action) pair is given twice.", "Give each pair once."},
	{"too_many_rights", http.StatusUnprocessableEntity, "A role holds more rights than allowed, or a constraint names more than 20.", "Split it into several roles (or constraints)."},
	{"unknown_object_type", http.StatusUnprocessableEntity, "An object type or action is not in the server's catalog (ROLEGATE_CATALOG).", "Use one the catalog names, or add it there."},
	{"invalid_rights", http.StatusUnprocessableEntity, "Papershift rights are malformed.", "Send rights as the facade documents them."},
	{"unknown_entity", http.StatusUnprocessableEntity, "A client is bound to an entity that does not exist.", "Create the entity first."},
	{"unknown_role", http.StatusUnprocessableEntity, "A role named in the body does not exist in this entity.", "Check the role ids."},
	{"unknown_user", http.StatusUnprocessableEntity, "A user named in the body does not exist in this entity.", "Create the user first."},
	{"unknown_revision", http.StatusUnprocessableEntity, "min_revision or since names a revision the entity never had.", "Pass a revision a write returned (X-Rolegate-Revision)."},
	// answers as of a past instant (issue 25)
	{"invalid_as_of", http.StatusUnprocessableEntity, "as_of is not an RFC 3339 time, is in the future, is given with at_revision, or either is given with min_revision.", "Send one of as_of (a past time such as 2026-03-31T23:59:59Z) or at_revision, without min_revision."},
	{"invalid_revision", http.StatusUnprocessableEntity, "at_revision is not a revision of the entity: below 1, or past its current revision.", "Pass a revision the entity has had (X-Rolegate-Revision, the changes feed)."},
	{"before_entity", http.StatusUnprocessableEntity, "as_of is an instant before the entity was created: it had no policy then.", "Ask about an instant after the entity's created_at."},
	{"beyond_retention", http.StatusUnprocessableEntity, "as_of or at_revision is older than the history kept (ROLEGATE_HISTORY_RETENTION): the sweep removed it.", "Ask about a later instant; keep history longer if such questions matter."},
	{"invalid_expires_at", http.StatusUnprocessableEntity, "expires_at is not an RFC 3339 time in the future.", "Send a future time such as 2030-01-01T00:00:00Z."},
	{"invalid_datetime", http.StatusUnprocessableEntity, "A date-time query parameter is not RFC 3339.", "Send a time such as 2024-01-15T09:30:00Z."},
	{"invalid_limit", http.StatusUnprocessableEntity, "limit is not a number in range.", "Use 1-100."},
	{"invalid_pagination_token", http.StatusUnprocessableEntity, "The pagination token is not one this list gave (or the filters changed).", "Pass next_pagination_token back unchanged, with the same filters."},
	{"invalid_starting_after", http.StatusUnprocessableEntity, "The Dintero starting_after cursor is malformed.", "Pass a cursor the previous page gave."},
	{"invalid_description", http.StatusUnprocessableEntity, "A description is too long or holds control characters.", "Shorten it; use plain text."},
	{"invalid_sort", http.StatusUnprocessableEntity, "sort is not one the list takes.", "Use a documented sort value (such as created_at, updated_at, name)."},
	{"invalid_order", http.StatusUnprocessableEntity, "order is not asc or desc.", "Use asc or desc."},
	{"invalid_status", http.StatusUnprocessableEntity, "status is not active, deleted or all.", "Use active, deleted or all."},
	{"invalid_role_type", http.StatusUnprocessableEntity, "role_type is not custom or system.", "Use custom or system."},
	{"invalid_default", http.StatusUnprocessableEntity, "default is not true or false.", "Use true or false."},
	{"invalid_force", http.StatusUnprocessableEntity, "force is not true or false.", "Use true or false."},
	{"invalid_dry_run", http.StatusUnprocessableEntity, "dry_run is given twice, empty, or not true or false; nothing was done.", "Give it once, as true or false."},
	{"invalid_include_deleted", http.StatusUnprocessableEntity, "The Dintero include_deleted is not true or false.", "Use true or false."},
	{"invalid_wait", http.StatusUnprocessableEntity, "The changes feed's wait is not a number of seconds in range.", "Use 0 to the documented maximum."},
	{"invalid_search", http.StatusUnprocessableEntity, "The search string is too long or malformed.", "Shorten it."},
	{"invalid_expand", http.StatusUnprocessableEntity, "expand names something the list cannot expand.", "Use a documented expand value."},
	{"invalid_id__in", http.StatusUnprocessableEntity, "id__in names too many roles.", "Ask for at most 100 at a time."},
	{"invalid_since", http.StatusUnprocessableEntity, "since is not an integer >= 0.", "Pass 0 or a revision."},
	{"invalid_actor", http.StatusUnprocessableEntity, "The audit log's actor filter is too long.", "Use at most 255 characters."},
	{"invalid_action", http.StatusUnprocessableEntity, "The action of a who-can question is malformed.", "Use an action name such as read."},
	{"invalid_object_type", http.StatusUnprocessableEntity, "An object type (of a who-can question, or the audit log's filter) is malformed or unknown.", "Use an object type such as payable (the audit log: assignment, client, constraint, entity, role, user)."},
	{"invalid_batch", http.StatusUnprocessableEntity, "A batch check holds no checks or too many.", "Send 1 to the documented maximum of checks."},
	{"too_many_entities", http.StatusUnprocessableEntity, "A batch check names more entities than allowed.", "Split the batch by entity."},
	{"invalid_users", http.StatusUnprocessableEntity, "An import holds no users or too many.", "Send 1 to the documented maximum of users per import."},
	{"too_many_users", http.StatusUnprocessableEntity, "An import holds more users than allowed.", "Split it into several imports."},
	{"too_many_elements", http.StatusUnprocessableEntity, "A list in the body holds more elements than its documented limit (read no further than the one past it).", "Send at most the documented number."},
	{"dry_run_unsupported", http.StatusUnprocessableEntity, "dry_run was given to a call that has no dry run; nothing was done.", "Drop dry_run, or use a call that lists it (docs/api.md)."},
	{"duplicate_user", http.StatusUnprocessableEntity, "An import names the same user twice.", "Name each user once."},
	{"duplicate_scope", http.StatusUnprocessableEntity, "An import gives a user the same scope twice.", "Name each scope once."},
	{"too_many_roles", http.StatusUnprocessableEntity, "An import gives a user more roles than allowed.", "Give fewer roles (see the message's limit)."},
	{"too_many_scopes", http.StatusUnprocessableEntity, "An import gives a user more scopes than allowed.", "Give fewer scopes."},
	{"too_many_exceptions", http.StatusUnprocessableEntity, "A constraint lists more exceptions than allowed (100).", "Remove expired or unneeded exceptions."},
	{"invalid_team_id", http.StatusUnprocessableEntity, "A Papershift team_id is malformed.", "Use 1-120 characters of A-Za-z0-9._- or a number."},
	{"quota_exceeded", http.StatusUnprocessableEntity, "The write would take the entity past a quota (roles, users or rules per entity); nothing was written.", "Remove what is unused, or raise ROLEGATE_MAX_*_PER_ENTITY."},
	// 429
	{"rate_limited", http.StatusTooManyRequests, "The client or the entity sent more requests than the rate limit allows.", "Wait as Retry-After says, then retry; spread the load."},
	// 500
	{"internal", http.StatusInternalServerError, "An unexpected failure; the log holds the cause under the request id.", "Retry later; report it with the X-Request-Id."},
	// 503
	{"storage_unavailable", http.StatusServiceUnavailable, "The database does not answer.", "Retry after Retry-After; a check must be treated as denied meanwhile."},
	{"policy_unavailable", http.StatusServiceUnavailable, "The entity's policy cannot be loaded now.", "Retry after Retry-After."},
	{"stale_policy", http.StatusServiceUnavailable, "This instance has not yet reached the min_revision asked for.", "Retry after Retry-After (another instance may answer)."},
	{"dry_run_conflict", http.StatusServiceUnavailable, "The entity changed while the dry run was being worked out.", "Retry the dry run."},
	{"shutting_down", http.StatusServiceUnavailable, "/readyz: the instance received SIGTERM and is draining its requests before it stops.", "Send new requests to another instance; this one stops after the drain period."},
	{"server_busy", http.StatusServiceUnavailable, "Too many large bodies or access reports at once.", "Retry after Retry-After."},
}

// OAuthErrorCodes are the "error" values of the token endpoints' RFC 6749
// body, {"error":"...","error_description":"..."}.
var OAuthErrorCodes = []ErrorCode{
	{"invalid_request", http.StatusBadRequest, "The token request is malformed (or, as 429, too many failed requests from this client).", "Send grant_type=client_credentials with the client's id and secret."},
	{"unsupported_grant_type", http.StatusBadRequest, "grant_type is not client_credentials.", "Send grant_type=client_credentials."},
	{"invalid_client", http.StatusUnauthorized, "The client id or secret is missing or wrong.", "Send the client's credentials by HTTP Basic or in the body."},
	{"server_error", http.StatusServiceUnavailable, "Rolegate cannot issue a token now.", "Retry after Retry-After."},
}
