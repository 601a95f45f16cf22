// The TypeScript client against a real rolegate (server.ts): checks, typed
// errors, token renewal for API clients, bounded Retry-After retries and the
// fail-closed helpers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";

import { RolegateClient, RolegateError, isCode } from "../src/index.js";
import { adminToken, startServer, type Server } from "./server.js";

const buildDir = mkdtempSync(join(tmpdir(), "rolegate-ts-build-"));
after(() => rmSync(buildDir, { recursive: true, force: true }));

const approver = {
  name: "approver",
  permissions: {
    objects: [
      {
        object_type: "payable",
        actions: [
          { action_name: "read", permission: "allowed" as const },
          { action_name: "approve", permission: "allowed_for_own" as const },
          { action_name: "delete", permission: "denied" as const },
        ],
      },
    ],
  },
};

/** A fetch that records every request (method, path, status) it passes on. */
function recording() {
  const seen: { method: string; path: string; status: number }[] = [];
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    seen.push({ method: init?.method ?? "GET", path: new URL(String(input)).pathname, status: res.status });
    return res;
  };
  return { seen, fetch: f };
}

describe("against a real rolegate", () => {
  let s: Server;
  let admin: RolegateClient;
  let roleId: string;

  before(async () => {
    s = await startServer({ ROLEGATE_TOKEN_TTL: "1m", ROLEGATE_RATE_LIMIT_CHECK: "2" }, buildDir);
    admin = new RolegateClient({ baseUrl: s.url, token: adminToken });
    await admin.createEntity({ id: "acme", name: "Acme" });
    await admin.createEntity({ id: "globex", name: "Globex" });
    roleId = (await admin.createRole("acme", approver)).id;
    await admin.createUser("acme", { id: "u-17", role_ids: [roleId] });
  });
  after(async () => {
    await s?.stop();
  });

  test("checks answer as the roles say, with why on a refusal", async () => {
    const own = await admin.check({ entity_id: "acme", user_id: "u-17", object_type: "payable", action: "approve", owner_id: "u-17" });
    assert.equal(own.allowed, true);
    assert.equal(own.permission, "allowed_for_own");
    const del = await admin.check({ entity_id: "acme", user_id: "u-17", object_type: "payable", action: "delete", explain: true });
    assert.equal(del.allowed, false);
    assert.equal(del.permission, "denied");
    assert.equal(del.denied_by?.[0]?.role_id, roleId);
    const batch = await admin.areAllowed([
      { entity_id: "acme", user_id: "u-17", object_type: "payable", action: "read" },
      { entity_id: "acme", user_id: "u-17", object_type: "payable", action: "delete" },
      { entity_id: "acme", user_id: "stranger", object_type: "payable", action: "read" },
    ]);
    assert.deepEqual(batch, [true, false, false]);
  });

  test("conditions: a limit on the user and the object, explained", async () => {
    const payer = await admin.createRole("acme", {
      name: "payer",
      permissions: {
        objects: [
          {
            object_type: "payable",
            actions: [
              { action_name: "pay", permission: "allowed", condition: "resource.amount <= user.approval_limit && resource.currency == 'EUR'" },
            ],
          },
        ],
      },
    });
    assert.equal(payer.permissions.objects?.[0]?.actions[0]?.condition, "resource.amount <= user.approval_limit && resource.currency == 'EUR'");
    const user = await admin.createUser("acme", { id: "u-pay", role_ids: [payer.id], attributes: { approval_limit: 10000 } });
    assert.deepEqual(user.attributes, { approval_limit: 10000 });
    const q = { entity_id: "acme", user_id: "u-pay", object_type: "payable", action: "pay" };
    assert.equal(await admin.isAllowed({ ...q, resource: { amount: 1200, currency: "EUR" } }), true);
    assert.equal(await admin.isAllowed({ ...q, resource: { amount: 12000, currency: "EUR" } }), false);
    const why = await admin.check({ ...q, explain: true });
    assert.equal(why.allowed, false);
    assert.equal(why.matched?.[0]?.condition_error, "no such key: amount");
    const over = await admin.check({ ...q, resource: { amount: 12000, currency: "EUR" }, explain: true });
    assert.equal(over.matched?.[0]?.condition_value, false);
    await assert.rejects(
      admin.createRole("acme", { name: "broken", permissions: { objects: [{ object_type: "payable", actions: [{ action_name: "pay", permission: "allowed", condition: "resource.amount <=" }] }] } }),
      (err: unknown) => isCode(err, "invalid_condition") && (err as RolegateError).status === 422,
    );
    // (a nested object is no attribute the generated type allows: sent through request())
    await assert.rejects(admin.request("POST", "/v1/check", { ...q, resource: { nested: { a: 1 } } }), (err: unknown) => isCode(err, "invalid_attributes"));
  });

  test("separation of duties: a constraint refuses the write that breaks it, with its violations", async () => {
    const right = (action: string) => ({ object_type: "invoice", actions: [{ action_name: action, permission: "allowed" as const }] });
    const maker = await admin.createRole("acme", { name: "invoice-maker", permissions: { objects: [right("create")] } });
    const checker = await admin.createRole("acme", { name: "invoice-checker", permissions: { objects: [right("approve")] } });
    await admin.createUser("acme", { id: "u-sod", role_ids: [maker.id] });
    const rights = [
      { object_type: "invoice", action: "create" },
      { object_type: "invoice", action: "approve" },
    ];
    const c = await admin.createConstraint("acme", { name: "invoice maker-checker", mode: "enforce", rights });
    assert.equal(c.mode, "enforce");
    assert.ok((await admin.listConstraints("acme")).some((k) => k.id === c.id));
    await assert.rejects(admin.request("PUT", `/v1/entities/acme/users/u-sod/roles/${checker.id}`), (err: unknown) => {
      assert.ok(err instanceof RolegateError);
      assert.equal(err.status, 409);
      assert.equal(err.code, "separation_of_duties");
      assert.equal(err.violations[0]?.user_id, "u-sod");
      assert.deepEqual(err.violations[0]?.rights.map((r) => r.action), ["create", "approve"]);
      return true;
    });
    // refused: nothing assigned, so nobody is in violation
    assert.deepEqual(await admin.constraintViolations("acme", c.id), []);
    await admin.deleteConstraint("acme", c.id);
    await admin.request("PUT", `/v1/entities/acme/users/u-sod/roles/${checker.id}`);
    const other = await admin.createConstraint("acme", { name: "reported", mode: "report", rights });
    assert.equal((await admin.constraintViolations("acme", other.id))[0]?.user_id, "u-sod");
  });

  test("the past: a check as of an instant, and since when a user could", async () => {
    const role = await admin.createRole("acme", { name: "refunder", permissions: { objects: [{ object_type: "refund", actions: [{ action_name: "issue", permission: "allowed" as const }] }] } });
    await admin.createUser("acme", { id: "u-past" });
    const before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await admin.request("PUT", `/v1/entities/acme/users/u-past/roles/${role.id}`);
    const q = { entity_id: "acme", user_id: "u-past", object_type: "refund", action: "issue" };
    assert.equal((await admin.check(q)).allowed, true);
    assert.equal((await admin.check({ ...q, as_of: before })).allowed, false);
    const h = await admin.accessHistory("acme", "u-past", { object_type: "refund", action: "issue" });
    assert.equal(h.data.length, 1);
    assert.equal(h.data[0]?.to, null);
    assert.equal(h.data[0]?.via[0]?.role_id, role.id);
    assert.equal(h.data[0]?.opened?.action, "assignment.create");
    await assert.rejects(admin.check({ ...q, as_of: "2000-01-01T00:00:00Z" }), (err: unknown) => isCode(err, "before_entity"));
  });

  test("errors are typed: status, code, message, details", async () => {
    await assert.rejects(admin.getRole("acme", "no-such-role"), (err: unknown) => {
      assert.ok(err instanceof RolegateError);
      assert.equal(err.status, 404);
      assert.equal(err.code, "role_not_found");
      assert.ok(err.message.length > 0 && err.requestId);
      return true;
    });
    // (sent through request(): the generated RoleRequest may require a name)
    await assert.rejects(admin.request("POST", "/v1/entities/acme/roles", { description: "no name" }), (err: unknown) => {
      assert.ok(err instanceof RolegateError && err.status === 422);
      assert.ok(err.details.some((d) => d.field?.includes("name")), JSON.stringify(err.details));
      return true;
    });
    await assert.rejects(admin.createRole("acme", approver), (err: unknown) => isCode(err, "role_name_taken") && (err as RolegateError).status === 409);
    const wrong = new RolegateClient({ baseUrl: s.url, token: "wrong-token-wrong-token-wrong-token", retries: 0 });
    await assert.rejects(wrong.createEntity({ id: "x" }), (err: unknown) => err instanceof RolegateError && err.status === 401);
  });

  test("an API client's token is fetched once, shared, and renewed before it expires", async () => {
    const cl = await admin.createClient({ name: "svc", entity_id: "acme", scopes: ["check"] });
    let clock = Date.now();
    const rec = recording();
    const c = new RolegateClient({ baseUrl: s.url, clientId: cl.client_id, clientSecret: cl.client_secret, fetch: rec.fetch, now: () => clock });
    const q = { entity_id: "acme", user_id: "u-17", object_type: "payable", action: "approve", owner_id: "u-17" };
    // Two checks at once share one token request.
    const both = await Promise.all([c.isAllowed(q), c.isAllowed(q)]);
    assert.deepEqual(both, [true, true]);
    const tokens = () => rec.seen.filter((r) => r.path === "/v1/auth/token").length;
    assert.equal(tokens(), 1);
    assert.equal(await c.isAllowed(q), true);
    assert.equal(tokens(), 1, "a current token is reused");
    // The token lives 1m; 31s before its end (renewal is 30s ahead) it is renewed.
    clock += 31_000;
    assert.equal(await c.isAllowed(q), true);
    assert.equal(tokens(), 2, "renewed before it expires");
    // A client bound to acme may not check globex: a typed refusal, and
    // false through the fail-closed helper.
    const other = { ...q, entity_id: "globex" };
    await assert.rejects(c.check(other), (err: unknown) => err instanceof RolegateError && err.status === 404);
    let seen: unknown;
    assert.equal(await c.isAllowed(other, (e) => (seen = e)), false);
    assert.ok(seen instanceof RolegateError);
    // A wrong secret: the token endpoint's OAuth error, typed.
    const bad = new RolegateClient({ baseUrl: s.url, clientId: cl.client_id, clientSecret: "wrong-secret", retries: 0 });
    await assert.rejects(bad.check(q), (err: unknown) => err instanceof RolegateError && err.status === 401 && err.code === "invalid_client");
  });

  test("429 is retried after Retry-After, a bounded number of times", async () => {
    // 2 checks a second for this token: a burst of 6 is rate limited.
    const rec = recording();
    const waits: number[] = [];
    const c = new RolegateClient({
      baseUrl: s.url, token: adminToken, fetch: rec.fetch, retries: 5,
      sleep: (ms) => { waits.push(ms); return new Promise((r) => setTimeout(r, ms)); },
    });
    const q = { entity_id: "acme", user_id: "u-17", object_type: "payable", action: "read" };
    const answers = await Promise.all(Array.from({ length: 6 }, () => c.check(q)));
    assert.ok(answers.every((a) => a.allowed));
    const limited = rec.seen.filter((r) => r.status === 429).length;
    assert.ok(limited > 0, "the burst was rate limited");
    assert.equal(waits.length, limited, "every 429 was waited for, then retried");
    assert.ok(waits.every((w) => w >= 1000), `waited as Retry-After said: ${waits}`);

    // Without retries the 429 is the caller's, typed, with its Retry-After.
    const once = new RolegateClient({ baseUrl: s.url, token: adminToken, retries: 1, sleep: async () => {} });
    const errors = (await Promise.allSettled(Array.from({ length: 8 }, () => once.check(q)))).filter((r) => r.status === "rejected");
    assert.ok(errors.length > 0);
    for (const e of errors) {
      const err = (e as PromiseRejectedResult).reason;
      assert.ok(err instanceof RolegateError && err.status === 429 && err.code === "rate_limited" && (err.retryAfterMs ?? 0) >= 1000, String(err));
    }
  });
});

describe("fail closed", () => {
  test("unreachable, wrong answers and bad credentials are never an allow", async () => {
    // Something that answers, but not as Rolegate: each body in turn.
    const bodies = ['{"allowed":true}', "<html>ok</html>", '{"allowed":true,"permission":"denied","revision":3}', '{"allowed":"yes","permission":"allowed","revision":1}'];
    let i = 0;
    const liar = createServer((_, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(bodies[i++ % bodies.length]);
    });
    await new Promise<void>((r) => liar.listen(0, "127.0.0.1", r));
    const liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
    // A port nobody listens on.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const downUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    try {
      const q = { entity_id: "acme", user_id: "u-17", object_type: "payable", action: "read" };
      const lying = new RolegateClient({ baseUrl: liarUrl, token: "t", retries: 0 });
      for (let n = 0; n < bodies.length; n++) {
        const errs: unknown[] = [];
        assert.equal(await lying.isAllowed(q, (e) => errs.push(e)), false, bodies[n]);
        assert.ok(errs[0] instanceof RolegateError && errs[0].code === "malformed_answer", String(errs[0]));
      }
      const down = new RolegateClient({ baseUrl: downUrl, token: "t", retries: 2, sleep: async () => {} });
      const errs: unknown[] = [];
      assert.equal(await down.isAllowed(q, (e) => errs.push(e)), false);
      assert.ok(errs[0] instanceof RolegateError && errs[0].status === 0 && errs[0].code === "unreachable");
      assert.deepEqual(await down.areAllowed([q, q]), [false, false]);
    } finally {
      await new Promise((r) => liar.close(r));
    }
  });
});
