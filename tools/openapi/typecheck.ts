// Compiled (tsc --noEmit) against the types openapi-typescript generates from
// api/openapi.yaml (scripts/openapi-check.sh copies both into a temp dir):
// the types must say what the API takes.
import type { components, paths } from "./schema";

type CreateRole = paths["/v1/entities/{entity}/roles"]["post"]["requestBody"]["content"]["application/json"];

const role: CreateRole = {
  name: "approver",
  permissions: { objects: [{ object_type: "payable", actions: [{ action_name: "read", permission: "allowed" }] }] },
};

// @ts-expect-error a role to create needs a name
const nameless: CreateRole = { description: "no name" };

// @ts-expect-error a permission value is one of the four
const badValue: components["schemas"]["Permissions"] = { objects: [{ object_type: "payable", actions: [{ action_name: "read", permission: "maybe" }] }] };

const err: components["schemas"]["NativeError"] = { error: { code: "role_name_taken", message: "a role named \"approver\" already exists" } };

export { role, nameless, badValue, err };
