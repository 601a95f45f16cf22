// Starts a real rolegate for the tests: built from this repository with
// `go build -o` into a temporary folder (or ROLEGATE_BIN, when set), run on
// 127.0.0.1 with a port of the system's choosing, an admin token and its own
// SQLite file; ready once /readyz answers 200.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const adminToken = "ts-client-test-admin-token-0123456789abcdef";

const repo = resolve(fileURLToPath(import.meta.url), "../../../../..");
let built: string | undefined;

function binary(dir: string): string {
  if (process.env.ROLEGATE_BIN) return process.env.ROLEGATE_BIN;
  if (!built) {
    built = join(dir, "rolegate");
    execFileSync("go", ["build", "-o", built, "./cmd/rolegate"], { cwd: repo, stdio: ["ignore", "inherit", "inherit"] });
  }
  return built;
}

export interface Server {
  url: string;
  stop(): Promise<void>;
  log(): string;
}

export async function startServer(env: Record<string, string> = {}, buildDir?: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "rolegate-ts-"));
  const bin = binary(buildDir ?? dir);
  const child: ChildProcess = spawn(bin, ["serve"], {
    env: {
      PATH: process.env.PATH ?? "",
      ROLEGATE_ADDR: "127.0.0.1:0",
      ROLEGATE_LOG_FORMAT: "json",
      ROLEGATE_ADMIN_TOKEN: adminToken,
      ROLEGATE_DATABASE_URL: "sqlite://" + join(dir, "rolegate.db"),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  child.stderr!.on("data", (b: Buffer) => lines.push(b.toString()));
  const addr = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("rolegate did not listen within 60 s:\n" + lines.join(""))), 60_000);
    child.once("exit", (code) => fail(new Error(`rolegate exited (${code}):\n` + lines.join(""))));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line + "\n");
      try {
        const rec = JSON.parse(line) as { msg?: string; addr?: string };
        if (rec.msg === "listening" && rec.addr) {
          clearTimeout(timer);
          ok(rec.addr);
        }
      } catch {
        // not a log record
      }
    });
  });
  const url = "http://" + addr;
  for (let i = 0; ; i++) {
    const res = await fetch(url + "/readyz").catch(() => undefined);
    if (res?.status === 200) break;
    if (i > 100) throw new Error("rolegate not ready: " + res?.status);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    log: () => lines.join(""),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
