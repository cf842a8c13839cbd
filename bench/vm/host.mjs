// oidc-gate's request path inside Node's V8, without Envoy: a minimal proxy-wasm host that
// configures the module, answers its discovery and JWKS calls, then runs whole requests
// (context create, request headers, response headers, done, log, delete) and prints the time
// per request and the host calls each made. See README.md.
//
//   node --no-liftoff --no-wasm-lazy-compilation host.mjs MODULE CONFIG JWKS REQUESTS [COUNT]
//
// REQUESTS: one header line ("Name: value") per request; with one line it is repeated COUNT
// times (default 50,000), with several each is sent once (fresh tokens).
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const [modulePath, configPath, jwksPath, requestsPath, countArg] = process.argv.slice(2);
const config = readFileSync(configPath);
const jwks = readFileSync(jwksPath);
const issuer = JSON.parse(config).issuer;
const discovery = Buffer.from(JSON.stringify({
  issuer,
  authorization_endpoint: `${issuer}/auth`,
  token_endpoint: `${issuer}/token`,
  jwks_uri: `${issuer}/jwks`,
  end_session_endpoint: `${issuer}/logout`,
}));

// proxy-wasm ABI 0.2.1 numbers.
const MAP = { requestHeaders: 0, callResponseHeaders: 6 };
const BUFFER = { callResponseBody: 4, pluginConfiguration: 7 };
const STATUS = { ok: 0, notFound: 1, casMismatch: 8 };

let exports;
const bytes = () => new Uint8Array(exports.memory.buffer);
const view = () => new DataView(exports.memory.buffer);
const text = (ptr, len) => Buffer.from(bytes().subarray(ptr, ptr + len)).toString();

/// Copies `data` into memory the module allocated, as the host does for every value it returns.
function hand(data, ptrOut, sizeOut) {
  const ptr = exports.proxy_on_memory_allocate(data.length);
  bytes().set(data, ptr);
  view().setUint32(ptrOut, ptr, true);
  view().setUint32(sizeOut, data.length, true);
  return STATUS.ok;
}

/// A header map serialized as proxy-wasm passes it: count, (name, value) lengths, then
/// NUL-terminated names and values.
function headerMap(pairs) {
  const sizes = Buffer.alloc(4 + pairs.length * 8);
  sizes.writeUInt32LE(pairs.length, 0);
  const strings = pairs.map(([name, value], i) => {
    sizes.writeUInt32LE(Buffer.byteLength(name), 4 + i * 8);
    sizes.writeUInt32LE(Buffer.byteLength(value), 8 + i * 8);
    return Buffer.from(`${name}\0${value}\0`);
  });
  return Buffer.concat([sizes, ...strings]);
}

// What wrk sends through Envoy, plus the request's credential.
const envoyHeaders = [[":authority", "127.0.0.1:10000"], [":path", "/"], [":method", "GET"],
  [":scheme", "http"], ["x-forwarded-proto", "http"], ["x-request-id", "2d7c3a0e-8b0c-4c7e-9f0e-2f5b0d4c1a11"]];
const requests = readFileSync(requestsPath, "utf8").split("\n").filter(Boolean).map((line) => {
  const at = line.indexOf(": ");
  return headerMap([...envoyHeaders, [line.slice(0, at).toLowerCase(), line.slice(at + 2)]]);
});

let current = requests[0];
let callBody = Buffer.alloc(0);
const calls = [];
const shared = new Map();
let calls_made = {};
let nextId = 0;
const host = {
  proxy_log: (level, ptr, len) => { if (level >= 3) console.error(`log ${level}: ${text(ptr, len)}`); return 0; },
  proxy_get_log_level: (out) => { view().setUint32(out, 2, true); return 0; },
  proxy_get_current_time_nanoseconds: (out) => {
    view().setBigUint64(out, BigInt(Date.now()) * 1000000n, true);
    return 0;
  },
  proxy_set_tick_period_milliseconds: () => 0,
  proxy_get_buffer_bytes: (type, start, len, ptrOut, sizeOut) => {
    const buffer = { [BUFFER.pluginConfiguration]: config, [BUFFER.callResponseBody]: callBody }[type];
    // Sizes are unsigned (the SDK asks for usize::MAX bytes: all of it).
    return hand((buffer ?? Buffer.alloc(0)).subarray(start, start + (len >>> 0)), ptrOut, sizeOut);
  },
  proxy_get_header_map_pairs: (type, ptrOut, sizeOut) =>
    hand(type === MAP.requestHeaders ? current : headerMap([]), ptrOut, sizeOut),
  proxy_get_header_map_value: (type, keyPtr, keyLen, ptrOut, sizeOut) => {
    const key = text(keyPtr, keyLen);
    const answer = { ":status": "200", "content-type": "application/json" }[key];
    return type === MAP.callResponseHeaders && answer ? hand(Buffer.from(answer), ptrOut, sizeOut) : STATUS.notFound;
  },
  proxy_http_call: (_c, _cl, headersPtr, headersLen, _b, _bl, _t, _tl, _timeout, tokenOut) => {
    const token = ++nextId;
    calls.push({ token, body: text(headersPtr, headersLen).includes("/jwks") ? jwks : discovery });
    view().setUint32(tokenOut, token, true);
    return 0;
  },
  proxy_define_metric: (_kind, _ptr, _len, idOut) => { view().setUint32(idOut, ++nextId, true); return 0; },
  proxy_get_shared_data: (keyPtr, keyLen, ptrOut, sizeOut, casOut) => {
    const entry = shared.get(text(keyPtr, keyLen));
    if (!entry) return STATUS.notFound;
    view().setUint32(casOut, entry.cas, true);
    return hand(entry.value, ptrOut, sizeOut);
  },
  proxy_set_shared_data: (keyPtr, keyLen, valuePtr, valueLen, cas) => {
    const key = text(keyPtr, keyLen);
    const entry = shared.get(key);
    if (cas && entry && entry.cas !== cas) return STATUS.casMismatch;
    shared.set(key, { value: Buffer.from(bytes().subarray(valuePtr, valuePtr + valueLen)), cas: (entry?.cas ?? 0) + 1 });
    return 0;
  },
  proxy_get_property: () => STATUS.notFound,
};
for (const name of ["proxy_increment_metric", "proxy_record_metric", "proxy_set_property",
  "proxy_replace_header_map_value", "proxy_remove_header_map_value", "proxy_add_header_map_value",
  "proxy_send_local_response", "proxy_continue_stream", "proxy_set_effective_context"]) {
  host[name] = () => 0;
}
const counted = Object.fromEntries(Object.entries(host).map(([name, call]) => [name, (...args) => {
  calls_made[name] = (calls_made[name] ?? 0) + 1;
  return call(...args);
}]));

const module = await WebAssembly.compile(readFileSync(modulePath));
const env = {};
for (const { module: from, name } of WebAssembly.Module.imports(module)) {
  if (from === "env") env[name] = counted[name] ?? (() => { throw new Error(`host call ${name} not provided`); });
}
const wasi = new WASI({ version: "preview1", args: [], env: {} });
const instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), env });
exports = instance.exports;
wasi.initialize({ exports: { _initialize: exports._initialize, memory: exports.memory } });

const ROOT = 1;
exports.proxy_on_context_create(ROOT, 0);
exports.proxy_on_vm_start(ROOT, 0);
if (!exports.proxy_on_configure(ROOT, config.length)) throw new Error("the configuration was refused");
exports.proxy_on_tick(ROOT);
while (calls.length) {
  const { token, body } = calls.shift();
  callBody = body;
  exports.proxy_on_http_call_response(ROOT, token, 2, body.length, 0);
}

function request(id) {
  current = requests[id % requests.length];
  exports.proxy_on_context_create(id, ROOT);
  const action = exports.proxy_on_request_headers(id, envoyHeaders.length + 1, 1);
  if (action !== 0 || calls_made.proxy_send_local_response) {
    throw new Error("a request was held or answered here, not let through: check the credential");
  }
  exports.proxy_on_response_headers(id, 2, 0);
  exports.proxy_on_done(id);
  exports.proxy_on_log(id);
  exports.proxy_on_delete(id);
}

// Warm-up (TurboFan compiles the module up front with --no-liftoff, but caches warm too), then
// the measured requests; fresh credentials are each sent once.
const warmup = Math.min(2000, Math.floor(requests.length / 5) || 2000);
const count = requests.length > 1 ? requests.length - warmup : Number(countArg ?? 50000);
let id = 10;
for (let i = 0; i < warmup; i++) request(id++);
calls_made = {};
const started = process.hrtime.bigint();
for (let i = 0; i < count; i++) request(id++);
const perRequest = Number(process.hrtime.bigint() - started) / count / 1000;
const perCall = Object.entries(calls_made).map(([name, n]) => `${name.replace("proxy_", "")} ${+(n / count).toFixed(2)}`);
console.log(`${perRequest.toFixed(1)} µs/request over ${count} requests; host calls each: ${perCall.join(", ")}`);
