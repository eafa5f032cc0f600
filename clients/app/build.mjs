// Builds the app into server/app/, which the server compiles in and serves at /app/: the page's
// scripts bundled into one module (esbuild), automerge's wasm, the static files, and the service
// worker (bundled too), which names them all with a hash of their contents. `--check` builds into a temporary
// folder and fails if server/app/ differs, so the shipped app cannot fall behind its sources.

import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const shipped = join(here, "../../server/app");
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "fieldsync-app-")) : shipped;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** Bundles `entry` from src/ into `file` of the output. */
const bundle = (entry, file, options) =>
  build({
    entryPoints: [join(here, "src", entry)],
    bundle: true,
    target: ["es2022"],
    minify: !process.argv.includes("--debug"),
    legalComments: "eof",
    outfile: join(out, file),
    logLevel: "warning",
    ...options,
  });

await bundle("main.js", "app.js", { format: "esm" });
copyFileSync(createRequire(import.meta.url).resolve("@automerge/automerge/automerge.wasm"), join(out, "automerge.wasm"));
for (const name of readdirSync(join(here, "static"))) copyFileSync(join(here, "static", name), join(out, name));

// The service worker caches the other files under a version that is a hash of them all.
const files = readdirSync(out).sort();
const hash = createHash("sha256");
for (const name of files) hash.update(name).update(readFileSync(join(out, name)));
await bundle("worker.js", "sw.js", {
  format: "iife",
  define: {
    __VERSION__: JSON.stringify(hash.digest("hex").slice(0, 16)),
    __FILES__: JSON.stringify(["./", ...files]),
  },
});

if (check) {
  const differing = [...new Set([...readdirSync(out), ...readdirSync(shipped)])].filter((name) => {
    try {
      return !readFileSync(join(out, name)).equals(readFileSync(join(shipped, name)));
    } catch {
      return true;
    }
  });
  rmSync(out, { recursive: true, force: true });
  if (differing.length) {
    console.error(`server/app/ is out of date with clients/app (${differing.join(", ")}): run npm run build --prefix clients/app`);
    process.exit(1);
  }
  console.log("server/app/ is up to date");
}
