// The Rolegate client for TypeScript (browsers and Node 20+): the API's types
// are generated from api/openapi.yaml (schema.ts, `npm run generate`); this
// file is the small hand-written layer around fetch: tokens renewed for API
// clients, bounded Retry-After retries, typed errors, fail-closed checks.
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];
export type CheckRequest = Schemas["CheckRequest"];
export type CheckResult = Schemas["CheckResult"];
export type Entity = Schemas["Entity"];
export type Role = Schemas["Role"];
export type User = Schemas["User"];
export type APIClient = Schemas["ClientWithSecret"];
export type Constraint = Schemas["Constraint"];
export type Violation = Schemas["Violation"];
export type AccessHistory = Schemas["AccessHistory"];

/** A user's access history asked of one action (access-history's query). */
export interface HistoryQuery {
  object_type: string;
  action: string;
  scope?: string;
  /** RFC 3339 instants bounding the window; absent: since the history begins, until now. */
  from?: string;
  to?: string;
}

/** A detail of a 422: the field refused and why. */
export interface ErrorDetail {
  field?: string;
  message: string;
  value?: string;
}

/**
 * An answer that is not a success, or no answer. `status` is the HTTP
 * status (0 when the server could not be reached), `code` the body's stable
 * code (`role_not_found`, `rate_limited`, ...; `http_<status>` when the body
 * held none; `unreachable`, `malformed_answer` for the client's own).
 */
export class RolegateError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  readonly requestId?: string;
  /** The server's Retry-After in milliseconds, when it sent one. */
  readonly retryAfterMs?: number;
  /** A 409 separation_of_duties: the violations the write would have made (at most 20). */
  readonly violations: Violation[];

  constructor(status: number, code: string, message: string, extra: { details?: ErrorDetail[]; requestId?: string; retryAfterMs?: number; violations?: Violation[]; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "RolegateError";
    this.status = status;
    this.code = code;
    this.details = extra.details ?? [];
    this.requestId = extra.requestId;
    this.retryAfterMs = extra.retryAfterMs;
    this.violations = extra.violations ?? [];
  }
}

/** Whether err is a RolegateError with this code. */
export function isCode(err: unknown, code: string): boolean {
  return err instanceof RolegateError && err.code === code;
}

export interface ClientOptions {
  /** The server, e.g. "https://rolegate.internal:8080". */
  baseUrl: string;
  /** A fixed bearer token (the admin token, a token you obtained). */
  token?: string;
  /** An API client's credentials: its tokens are fetched and renewed. */
  clientId?: string;
  clientSecret?: string;
  /** Tries after the first on 429 and 503 (and unreachable, for calls that change nothing); default 3. */
  retries?: number;
  /** First pause without a Retry-After, doubled each time (ms); default 200. */
  backoffMs?: number;
  /** The longest pause, Retry-After included (ms); default 30000. */
  maxDelayMs?: number;
  /** A token is renewed this long before it expires (ms); default 30000, at most half its life. */
  renewBeforeMs?: number;
  /** fetch to use; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** The clock (ms), for tests. */
  now?: () => number;
  /** How to wait (ms), for tests. */
  sleep?: (ms: number) => Promise<void>;
}

interface CallOptions {
  /** Changes nothing (GET, PUT, DELETE, checks): retried on 429, 503 and unreachable. */
  idempotent?: boolean;
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
}

/** An answer: its status, headers and decoded body. */
export interface Answer<T> {
  status: number;
  headers: Headers;
  body: T;
}

const allowing = new Set(["allowed", "allowed_for_own"]);
const permissionValues = new Set(["allowed", "allowed_for_own", "not_allowed", "denied"]);

export class RolegateClient {
  private readonly base: string;
  private readonly opts: Required<Pick<ClientOptions, "retries" | "backoffMs" | "maxDelayMs" | "renewBeforeMs">> & ClientOptions;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private cached?: { token: string; renewAt: number };
  private renewing?: Promise<string>;

  constructor(opts: ClientOptions) {
    if (!opts.baseUrl) throw new TypeError("rolegate: baseUrl is required");
    if (!opts.token === !(opts.clientId && opts.clientSecret)) {
      throw new TypeError("rolegate: give either token or clientId and clientSecret");
    }
    this.base = opts.baseUrl.replace(/\/+$/, "");
    this.opts = { retries: 3, backoffMs: 200, maxDelayMs: 30_000, renewBeforeMs: 30_000, ...opts };
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  // ---- tokens ----

  /** The bearer token to send: the fixed one, or a current token of the API client. */
  async bearer(): Promise<string> {
    if (this.opts.token) return this.opts.token;
    if (this.cached && this.now() < this.cached.renewAt) return this.cached.token;
    // One renewal at a time: callers arriving meanwhile wait for it.
    this.renewing ??= this.fetchToken().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async fetchToken(): Promise<string> {
    const basic = btoa(`${encodeURIComponent(this.opts.clientId!)}:${encodeURIComponent(this.opts.clientSecret!)}`);
    const ans = await this.send<Schemas["Token"]>("POST", "/v1/auth/token", new URLSearchParams({ grant_type: "client_credentials" }), {
      headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
    }, true);
    const t = ans.body;
    if (typeof t?.access_token !== "string" || typeof t.expires_in !== "number") {
      throw new RolegateError(ans.status, "malformed_answer", "rolegate: the token answer has no access_token or expires_in");
    }
    const life = t.expires_in * 1000;
    this.cached = { token: t.access_token, renewAt: this.now() + life - Math.min(this.opts.renewBeforeMs, life / 2) };
    return t.access_token;
  }

  // ---- calls ----

  /**
   * One call of the API with the bearer token, retried as the options say;
   * a non-2xx answer is thrown as a RolegateError.
   */
  async request<T>(method: string, path: string, body?: unknown, call: CallOptions = {}): Promise<Answer<T>> {
    let renewed = false;
    for (;;) {
      const token = await this.bearer();
      try {
        return await this.send<T>(method, path, body, { ...call, headers: { ...call.headers, Authorization: `Bearer ${token}` } }, call.idempotent ?? false);
      } catch (err) {
        // An API client's token refused (expired early, keys rotated):
        // drop it and try once with a new one.
        if (!renewed && !this.opts.token && err instanceof RolegateError && err.status === 401) {
          renewed = true;
          this.cached = undefined;
          continue;
        }
        throw err;
      }
    }
  }

  private async send<T>(method: string, path: string, body: unknown, call: CallOptions, idempotent: boolean): Promise<Answer<T>> {
    let url = this.base + path;
    const q = Object.entries(call.query ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
    if (q.length) url += "?" + new URLSearchParams(q).toString();
    const headers: Record<string, string> = { Accept: "application/json", ...call.headers };
    let payload: BodyInit | undefined;
    if (body instanceof URLSearchParams) payload = body;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] ??= "application/json";
    }
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchFn(url, { method, headers, body: payload });
      } catch (cause) {
        // No answer: a call that changes nothing may be tried again.
        if (idempotent && attempt < this.opts.retries) {
          await this.sleep(this.backoff(attempt));
          continue;
        }
        throw new RolegateError(0, "unreachable", `rolegate: ${method} ${path}: no answer`, { cause });
      }
      const text = await res.text();
      let decoded: unknown;
      try {
        decoded = text ? JSON.parse(text) : undefined;
      } catch {
        decoded = undefined;
      }
      if (res.ok) {
        if (text && decoded === undefined) {
          throw new RolegateError(res.status, "malformed_answer", `rolegate: ${method} ${path}: the answer is not JSON`);
        }
        return { status: res.status, headers: res.headers, body: decoded as T };
      }
      const err = toError(res, decoded, method, path);
      // 429 and 503 say "not now": calls that change nothing are tried
      // again, writes only when the server said it did not apply them.
      const again = (res.status === 429 || res.status === 503) && (idempotent || err.code === "rate_limited" || err.code === "server_busy");
      if (!again || attempt >= this.opts.retries) throw err;
      await this.sleep(err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, this.opts.maxDelayMs) : this.backoff(attempt));
    }
  }

  private backoff(attempt: number): number {
    const d = Math.min(this.opts.backoffMs * 2 ** attempt, 5_000, this.opts.maxDelayMs);
    return d / 2 + Math.random() * (d / 2);
  }

  // ---- checks ----

  /** Asks one question; throws on any error (see isAllowed for the fail-closed form). */
  async check(req: CheckRequest): Promise<CheckResult> {
    const ans = await this.request<CheckResult>("POST", "/v1/check", req, { idempotent: true });
    return checkedResult(ans.body, ans.status);
  }

  /** Asks up to 1,000 questions at once; the answers are in their order. */
  async checkBatch(reqs: CheckRequest[]): Promise<CheckResult[]> {
    const ans = await this.request<{ results?: unknown[] }>("POST", "/v1/check/batch", { checks: reqs }, { idempotent: true });
    const results = ans.body?.results;
    if (!Array.isArray(results) || results.length !== reqs.length) {
      throw new RolegateError(ans.status, "malformed_answer", `rolegate: ${results?.length ?? 0} answers to ${reqs.length} checks`);
    }
    return results.map((r) => checkedResult(r, ans.status));
  }

  /**
   * Fail closed: true only when Rolegate answered that the user is allowed.
   * Any error (unreachable, refused credentials, a malformed answer) is
   * false, and is given to onError when set.
   */
  async isAllowed(req: CheckRequest, onError?: (err: unknown) => void): Promise<boolean> {
    try {
      const r = await this.check(req);
      return r.allowed === true && allowing.has(r.permission);
    } catch (err) {
      onError?.(err);
      return false;
    }
  }

  /** Fail closed for many: an error makes every answer false. */
  async areAllowed(reqs: CheckRequest[], onError?: (err: unknown) => void): Promise<boolean[]> {
    try {
      return (await this.checkBatch(reqs)).map((r) => r.allowed === true && allowing.has(r.permission));
    } catch (err) {
      onError?.(err);
      return reqs.map(() => false);
    }
  }

  // ---- a few typed calls; request() reaches every other ----

  async createEntity(e: Schemas["EntityRequest"]): Promise<Entity> {
    return (await this.request<Entity>("POST", "/v1/entities", e)).body;
  }

  async createRole(entity: string, role: Schemas["RoleRequest"]): Promise<Role> {
    return (await this.request<Role>("POST", `/v1/entities/${enc(entity)}/roles`, role)).body;
  }

  async getRole(entity: string, role: string): Promise<Role> {
    return (await this.request<Role>("GET", `/v1/entities/${enc(entity)}/roles/${enc(role)}`, undefined, { idempotent: true })).body;
  }

  async createUser(entity: string, user: Schemas["UserRequest"]): Promise<User> {
    return (await this.request<User>("POST", `/v1/entities/${enc(entity)}/users`, user)).body;
  }

  async createClient(c: Schemas["ClientRequest"]): Promise<APIClient> {
    return (await this.request<APIClient>("POST", "/v1/clients", c)).body;
  }

  // ---- separation of duties ----

  async createConstraint(entity: string, c: Schemas["ConstraintRequest"]): Promise<Constraint> {
    return (await this.request<Constraint>("POST", `/v1/entities/${enc(entity)}/constraints`, c)).body;
  }

  async listConstraints(entity: string): Promise<Constraint[]> {
    return (await this.request<{ data: Constraint[] }>("GET", `/v1/entities/${enc(entity)}/constraints`, undefined, { idempotent: true })).body.data;
  }

  async replaceConstraint(entity: string, id: string, c: Schemas["ConstraintRequest"]): Promise<Constraint> {
    return (await this.request<Constraint>("PUT", `/v1/entities/${enc(entity)}/constraints/${enc(id)}`, c, { idempotent: true })).body;
  }

  async deleteConstraint(entity: string, id: string): Promise<void> {
    await this.request<unknown>("DELETE", `/v1/entities/${enc(entity)}/constraints/${enc(id)}`, undefined, { idempotent: true });
  }

  /** The users in violation of a constraint now, and how they hold its rights. */
  async constraintViolations(entity: string, id: string): Promise<Violation[]> {
    return (await this.request<{ data: Violation[] }>("GET", `/v1/entities/${enc(entity)}/constraints/${enc(id)}/violations`, undefined, { idempotent: true })).body.data;
  }

  // ---- the past ----

  /**
   * The intervals during which a user could do an action: since when,
   * through which roles, opened and closed by which audited change. (A
   * check of the past is check() with as_of or at_revision.)
   */
  async accessHistory(entity: string, user: string, q: HistoryQuery): Promise<AccessHistory> {
    const query = { object_type: q.object_type, action: q.action, scope: q.scope, from: q.from, to: q.to };
    return (await this.request<AccessHistory>("GET", `/v1/entities/${enc(entity)}/users/${enc(user)}/access-history`, undefined, { idempotent: true, query })).body;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function toError(res: Response, body: unknown, method: string, path: string): RolegateError {
  const requestId = res.headers.get("X-Request-Id") ?? undefined;
  const ra = res.headers.get("Retry-After");
  const retryAfterMs = ra !== null && /^\d+$/.test(ra) ? Number(ra) * 1000 : undefined;
  const b = body as { error?: unknown; error_description?: unknown } | undefined;
  let code = `http_${res.status}`;
  let message = `rolegate: ${method} ${path}: ${res.status}`;
  let details: ErrorDetail[] | undefined;
  let violations: Violation[] | undefined;
  if (b && typeof b.error === "object" && b.error !== null) {
    // The native body: {"error":{"code","message","details"}}.
    const e = b.error as { code?: unknown; message?: unknown; details?: unknown; violations?: unknown };
    if (typeof e.code === "string") code = e.code;
    if (typeof e.message === "string") message = e.message;
    if (Array.isArray(e.details)) details = e.details as ErrorDetail[];
    if (Array.isArray(e.violations)) violations = e.violations as Violation[];
  } else if (b && typeof b.error === "string") {
    // The token endpoint's OAuth body: {"error","error_description"}.
    code = b.error;
    if (typeof b.error_description === "string") message = b.error_description;
  }
  return new RolegateError(res.status, code, message, { details, requestId, retryAfterMs, violations });
}

// A check answer missing a field, or whose allowed contradicts its
// permission, is not Rolegate's: an error, never an allow or a deny.
function checkedResult(r: unknown, status: number): CheckResult {
  const c = r as Partial<CheckResult> | undefined;
  if (!c || typeof c.allowed !== "boolean" || typeof c.revision !== "number" || typeof c.permission !== "string" || !permissionValues.has(c.permission)) {
    throw new RolegateError(status, "malformed_answer", "rolegate: a check answer needs allowed, permission and revision");
  }
  if (c.allowed !== allowing.has(c.permission)) {
    throw new RolegateError(status, "malformed_answer", `rolegate: allowed=${c.allowed} contradicts permission ${c.permission}`);
  }
  return c as CheckResult;
}
