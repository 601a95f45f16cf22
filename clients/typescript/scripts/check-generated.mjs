// Fails when src/schema.ts is not what openapi-typescript makes of
// api/openapi.yaml today: run `npm run generate` and commit the result.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "rolegate-schema-"));
try {
  const fresh = join(dir, "schema.ts");
  execFileSync("npx", ["--no-install", "openapi-typescript", "../../api/openapi.yaml", "-o", fresh], { stdio: ["ignore", "ignore", "inherit"] });
  if (readFileSync(fresh, "utf8") !== readFileSync("src/schema.ts", "utf8")) {
    execFileSync("diff", ["-u", "src/schema.ts", fresh], { stdio: "inherit" }).toString();
  }
  console.log("src/schema.ts matches api/openapi.yaml");
} catch (err) {
  console.error("src/schema.ts is not generated from the current api/openapi.yaml: run `npm run generate` in clients/typescript and commit it");
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
