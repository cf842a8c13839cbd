// Runs a wasm32-wasip1 benchmark binary (bench/rsa, bench/p256) in Node's V8, passing it the
// arguments after its path. Pass --no-liftoff --no-wasm-lazy-compilation to node so that
// TurboFan compiles the whole module up front, as Envoy's V8 host does (with --no-liftoff
// alone, Node still compiles each function at its first call).
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { WASI } from "node:wasi";

const wasi = new WASI({ version: "preview1", args: [basename(process.argv[2], ".wasm"), ...process.argv.slice(3)], env: {} });
const module = await WebAssembly.compile(await readFile(process.argv[2]));
// Linking oidc-gate brings proxy-wasm's host imports along; the benchmark never calls them.
const env = {};
for (const { module: from, name } of WebAssembly.Module.imports(module)) {
  if (from === "env") {
    env[name] = () => {
      throw new Error(`host call ${name} in a benchmark`);
    };
  }
}
const instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), env });
// oidc-gate's proxy-wasm entry point also exports `_initialize`, which WASI.start refuses
// next to `_start`; hand it the command's exports only.
const { _start, memory } = instance.exports;
wasi.start({ exports: { _start, memory } });
