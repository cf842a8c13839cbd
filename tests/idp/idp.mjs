// Test OpenID provider for the oidc-gate integration tests.
//
// A real, OpenID-certified provider (npm `oidc-provider`, pinned in package.json) with a small
// fault-injection and hit-counting layer in front of it, all on 127.0.0.1.
//
// Usage:
//   node idp.mjs --port P --keys keys.json [--host H] [--control-port C] [--config config.json]
//
//   --port P          IdP port; the issuer is exactly `http://127.0.0.1:P`.
//   --host H          the issuer's host instead of 127.0.0.1 (it still listens on 127.0.0.1):
//                     `localhost` keeps the IdP's cookies away from apps on 127.0.0.1, as a
//                     real IdP on its own host does (the demo).
//   --keys FILE       private JWKS ({"keys":[...]}) used for signing; every key needs a `kid`.
//                     The public halves are served at /jwks.
//   --control-port C  optional control API (127.0.0.1 only, never on the IdP port):
//                       GET  /hits        -> {"discovery":n,"jwks":n,"token":n,"userinfo":n,"auth":n,...}
//                       POST /reset-hits
//                       POST /fault       {"target":"jwks"|"discovery"|"token"|<any kind>,
//                                          "mode":"ok"|"500"|"invalid_grant"|"html"|"garbage"|"empty"|"hang"|"stall"
//                                                 |"wrong_issuer"|"delay", "delay_ms":n}
//                       POST /keys        new private JWKS: rebuilds the provider (sessions are lost)
//                       POST /config      new config (same shape as --config): rebuilds the provider
//                       GET  /healthz     -> "ok"
//                       GET  /sessions    -> [{"sub","client_id","sid"}...]: the IdP session id (`sid`)
//                                         of every authorization code issued, oldest first (a
//                                         client with a back-channel logout URI gets it in its
//                                         id_token)
//                       POST /backchannel-logout {"sub": ..., "sid": ..., "client_id": ...}
//                                         sends that client (default demo-app) a back-channel
//                                         logout token, as the IdP does at end_session
//                                         (oidc-provider's Client#backchannelLogout); `sid`
//                                         defaults to the newest one of `sub`. Answers the record
//                                         of the delivery (as in /backchannel-logouts).
//                       GET  /backchannel-logouts -> every back-channel logout token sent, by this
//                                         call or by the end_session confirmation:
//                                         [{"uri","status","error","logout_token","claims"}...]
//                                         (status: the RP's answer, null when none came)
//                       GET  /revocations -> every request at the revocation endpoint (RFC 7009):
//                                         [{"token_type_hint","kind","sub","client_auth","status",
//                                           "token_active_after"}...]; kind: "RefreshToken",
//                                         "AccessToken" or null (a token the IdP does not know),
//                                         client_auth: "client_secret_basic" | "client_secret_post"
//                                         | "none", status: the IdP's answer (null while none, or
//                                         under a hang fault), token_active_after: whether the
//                                         token is still known and unspent once the IdP answered
//   --config FILE     optional JSON:
//                       {"clients": [<oidc-provider client metadata>...],
//                        "users": {"alice": {"groups": ["ml-admin","dev"], "email": "...", "name": "...",
//                                           "roles": ["admin"]}},  (realm_access.roles, scope roles)
//                        "pkce_required": true, "access_token_ttl": 3600, "id_token_ttl": 3600,
//                        "conform_id_token_claims": false,  (true: scope claims only via userinfo)
//                        "rotate_refresh_tokens": true,  (false: a refresh token lives its full TTL)
//                        "backchannel_logout_uri": "http://127.0.0.1:P/...",  (the default client's
//                                                  OIDC Back-Channel Logout URI, with
//                                                  backchannel_logout_session_required: its
//                                                  id_tokens carry `sid`)
//                        "store": "state.json",  (grants, tokens and sessions kept in that file, so
//                                                  a restarted IdP still honours its refresh tokens;
//                                                  default: in memory, lost on restart or rebuild)
//                        "machine_client": {"client_id": "...", "client_secret": "...",
//                                           "resource": "https://api.example.com", "scope": "all"}}
//                                                 (a second client, client_secret_basic, that gets
//                                                  access tokens by the client-credentials grant: JWTs
//                                                  signed RS256 with `aud` = resource and `sub` =
//                                                  client_id, as IdPs issue them to services; the
//                                                  default client's tokens stay opaque)
//                     Default client: `demo-app` / `s3cret`, client_secret_basic, code flow,
//                     application_type "native" so that any http://127.0.0.1:<port>/... loopback
//                     redirect matching a registered path is accepted (RFC 8252 §7.3), which
//                     lets tests register redirect URIs before they know Envoy's port.
//                     The RPs are on 127.0.0.1, so back-channel logout requests skip
//                     oidc-provider's guard against special-use (loopback) addresses.
//                     Unknown users log in fine (the dev login page accepts any login) and get
//                     `<login>@example.com` and no groups.
//
// Endpoint kinds counted by /hits: discovery, jwks, token, userinfo, auth, end_session,
// interaction, introspection, revocation, other.
//
// Fault modes (per kind): ok (pass through), 500, invalid_grant (400 with that OAuth error, as
// a token endpoint refuses a revoked or spent grant), html (200 text/html page), garbage (200 JSON
// content type, invalid JSON), empty (200 `{"keys":[]}` for jwks, `{}` otherwise), hang (never
// answers; the socket is kept open), stall (200 headers and half the body, then nothing more),
// wrong_issuer (discovery only: the real document with
// `issuer` + "/"), delay (sleep `delay_ms` then pass through). Hits are counted before faults,
// so a faulted fetch still counts as a fetch.

import * as http from 'node:http';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    keys: { type: 'string' },
    'control-port': { type: 'string' },
    config: { type: 'string' },
  },
});

if (!args.port || !args.keys) {
  console.error('usage: node idp.mjs --port P --keys keys.json [--host H] [--control-port C] [--config config.json]');
  process.exit(2);
}

const PORT = Number(args.port);
const ISSUER = `http://${args.host}:${PORT}`;

const DEFAULT_CLIENT = {
  client_id: 'demo-app',
  client_secret: 's3cret',
  application_type: 'native',
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/authservice/oidc/callback'],
  // `/signed-out`: the demo's public page after logout.
  post_logout_redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/signed-out'],
};

function readJson(path) {
  return JSON.parse(fs.readFileSync(path, 'utf8'));
}

let currentKeys = readJson(args.keys);
let currentConfig = args.config ? readJson(args.config) : {};

// ---------------------------------------------------------------------------------------------
// The provider

function accountFor(users, id) {
  const user = users[id] ?? {};
  return {
    accountId: id,
    // Every claim the scopes allow; oidc-provider filters them by granted scope.
    async claims() {
      return {
        sub: id,
        email: user.email ?? `${id}@example.com`,
        email_verified: user.email_verified ?? true,
        groups: user.groups ?? [],
        name: user.name ?? id,
        // Keycloak-style realm roles, released with the `roles` scope.
        realm_access: { roles: user.roles ?? [] },
      };
    },
  };
}

// Consent is granted automatically (see loadExistingGrant); the stock policy would still ask
// native (loopback) clients for consent on every authorization.
function interactionPolicyWithoutNativeConsent() {
  const policy = interactionPolicy.base();
  policy.get('consent').checks.remove('native_client_prompt');
  return policy;
}

// oidc-provider's adapter interface over one JSON file, rewritten (atomically) on every change:
// a real IdP keeps its grants in a database, and bench/chaos.py restarts this one mid-session.
// Only for the few dozen logins of a test run.
function fileAdapter(path) {
  const entries = fs.existsSync(path) ? readJson(path) : {};
  const save = () => {
    const now = Date.now();
    for (const [key, e] of Object.entries(entries)) if (e.until && e.until < now) delete entries[key];
    fs.writeFileSync(`${path}.tmp`, JSON.stringify(entries));
    fs.renameSync(`${path}.tmp`, path);
  };
  const live = (key) => {
    const e = entries[key];
    return e && (!e.until || e.until >= Date.now()) ? e.payload : undefined;
  };
  const findBy = (model, field, value) => Object.entries(entries)
    .find(([key, e]) => key.startsWith(`${model}:`) && e.payload[field] === value && live(key));
  return class FileAdapter {
    constructor(model) { this.model = model; }
    key(id) { return `${this.model}:${id}`; }
    async upsert(id, payload, expiresIn) {
      entries[this.key(id)] = { payload, until: expiresIn ? Date.now() + expiresIn * 1000 : 0 };
      save();
    }
    async find(id) { return live(this.key(id)); }
    async findByUid(uid) { return findBy(this.model, 'uid', uid)?.[1].payload; }
    async findByUserCode(userCode) { return findBy(this.model, 'userCode', userCode)?.[1].payload; }
    async consume(id) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      save();
    }
    async destroy(id) { delete entries[this.key(id)]; save(); }
    async revokeByGrantId(grantId) {
      for (const [key, e] of Object.entries(entries)) if (e.payload.grantId === grantId) delete entries[key];
      save();
    }
  };
}

// The default client, with the Back-Channel Logout URI of `backchannel_logout_uri` if given.
function defaultClient(config) {
  if (!config.backchannel_logout_uri) return DEFAULT_CLIENT;
  return {
    ...DEFAULT_CLIENT,
    backchannel_logout_uri: config.backchannel_logout_uri,
    backchannel_logout_session_required: true,
  };
}

// The client-credentials grant for `machine_client` (oidc-provider: clientCredentials, with
// resource indicators so that its access tokens are JWTs for that resource). Only that client's
// grants get the resource: every other client's access tokens stay opaque, as before.
function machineClientSetup(machine) {
  if (!machine) return { clients: [], features: {} };
  const client = {
    client_id: machine.client_id,
    client_secret: machine.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  };
  const features = {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, c) => (c.clientId === machine.client_id ? machine.resource : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: machine.scope ?? 'all',
        audience: machine.resource,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  };
  return { clients: [client], features };
}

function buildProvider(jwks, config) {
  const users = config.users ?? {};
  const machine = machineClientSetup(config.machine_client);
  const clients = [...(config.clients ?? [defaultClient(config)]), ...machine.clients];
  const pkceRequired = config.pkce_required ?? true;

  const provider = new Provider(ISSUER, {
    ...(config.store ? { adapter: fileAdapter(config.store) } : {}),
    jwks,
    clients,
    findAccount: async (_ctx, id) => accountFor(users, id),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
      roles: ['realm_access'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'roles'],
    // The id_token carries the claims of the granted scopes (the filter reads email/groups
    // from it without calling userinfo).
    conformIdTokenClaims: config.conform_id_token_claims ?? false,
    // Refresh tokens for every code grant, with or without offline_access.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Every refresh returns a new refresh token and consumes the old one, as Okta, Auth0,
    // Keycloak (optionally) and django-oauth-toolkit do; reusing a consumed one is refused
    // with invalid_grant and revokes the grant. `"rotate_refresh_tokens": false` turns it off.
    rotateRefreshToken: () => config.rotate_refresh_tokens ?? true,
    pkce: { required: () => pkceRequired },
    // Consent is granted automatically so a browser login is a single login form.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
      grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'groups']);
      await grant.save();
      return grant;
    },
    interactions: { policy: interactionPolicyWithoutNativeConsent() },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      backchannelLogout: { enabled: true },
      ...machine.features,
    },
    fetch: backchannelFetch,
    cookies: { keys: ['test-cookie-key-not-secret'] },
    ttl: {
      AccessToken: config.access_token_ttl ?? 3600,
      AuthorizationCode: 600,
      IdToken: config.id_token_ttl ?? 3600,
      RefreshToken: 86400,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('idp server_error', err));
  provider.on('authorization_code.saved', (code) => {
    sessions.push({ sub: code.accountId, client_id: code.clientId, sid: code.sid ?? null });
  });
  provider.on('backchannel.error', (_ctx, err) => console.error('idp backchannel.error', String(err)));
  return provider;
}

// ---------------------------------------------------------------------------------------------
// Records for the tests: sessions (sid), back-channel logouts sent, revocation requests

const sessions = [];
const backchannelLogouts = [];
const revocations = [];

function jwtClaims(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

// oidc-provider's only outgoing requests here are back-channel logouts. Its default fetch
// refuses special-use addresses (SSRF guard); every RP of the tests is on 127.0.0.1, so the
// guard's dispatcher is dropped. Each delivery is recorded with the RP's answer.
async function backchannelFetch(url, options) {
  const { dispatcher: _ssrfGuard, ...rest } = options;
  const logoutToken = new URLSearchParams(String(rest.body ?? '')).get('logout_token');
  const entry = { uri: String(url), status: null, error: null, logout_token: logoutToken, claims: jwtClaims(logoutToken ?? '') };
  backchannelLogouts.push(entry);
  try {
    const response = await globalThis.fetch(url, rest);
    entry.status = response.status;
    return response;
  } catch (e) {
    entry.error = String(e);
    throw e;
  }
}

async function sendBackchannelLogout({ client_id: clientId = DEFAULT_CLIENT.client_id, sub, sid }) {
  const client = await provider.Client.find(clientId);
  if (!client || !client.backchannelLogoutUri) throw new Error(`client ${clientId} has no backchannel_logout_uri`);
  const newest = sessions.filter((s) => s.sub === sub && s.client_id === clientId).at(-1);
  const before = backchannelLogouts.length;
  try {
    await client.backchannelLogout(sub, sid ?? newest?.sid);
  } catch {
    // A refusal or no answer: the record says which.
  }
  return backchannelLogouts[before] ?? { status: null, error: 'not sent' };
}

async function issuedToken(value) {
  if (!value) return undefined;
  try {
    return (await provider.RefreshToken.find(value)) ?? (await provider.AccessToken.find(value));
  } catch {
    return undefined;
  }
}

function clientAuthOf(req, params) {
  if (/^basic /i.test(req.headers.authorization ?? '')) return 'client_secret_basic';
  return params.has('client_secret') ? 'client_secret_post' : 'none';
}

// Reads the body of a revocation request (left in req.body, where oidc-provider takes an
// already-read body from) and records it; the outcome is filled in once the IdP answered.
async function recordRevocation(req, res) {
  const body = await readBody(req);
  req.body = body;
  const params = new URLSearchParams(body);
  const token = params.get('token');
  const found = await issuedToken(token);
  const entry = {
    token_type_hint: params.get('token_type_hint'),
    kind: found?.kind ?? null,
    sub: found?.accountId ?? null,
    client_auth: clientAuthOf(req, params),
    status: null,
    token_active_after: null,
  };
  revocations.push(entry);
  res.on('finish', async () => {
    const after = await issuedToken(token);
    entry.token_active_after = Boolean(after && !after.consumed);
    entry.status = res.statusCode;
  });
}

let provider = buildProvider(currentKeys, currentConfig);
let handler = provider.callback();

// Rebuilds the provider with new keys or config; the HTTP server stays up on the same port.
function rebuild() {
  const next = buildProvider(currentKeys, currentConfig);
  provider = next;
  handler = next.callback();
}

// ---------------------------------------------------------------------------------------------
// Hit counting and fault injection in front of the provider

const hits = {};
const faults = {}; // kind -> {mode, delay_ms}
const hanging = new Set();

function kindOf(pathname) {
  if (pathname === '/.well-known/openid-configuration') return 'discovery';
  if (pathname === '/jwks') return 'jwks';
  if (pathname === '/token/introspection') return 'introspection';
  if (pathname === '/token/revocation') return 'revocation';
  if (pathname === '/token') return 'token';
  if (pathname === '/me') return 'userinfo';
  if (pathname === '/auth' || pathname.startsWith('/auth/')) return 'auth';
  if (pathname.startsWith('/session/end')) return 'end_session';
  if (pathname.startsWith('/interaction/')) return 'interaction';
  return 'other';
}

function send(res, status, contentType, body) {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// The real discovery document with a wrong `issuer`, fetched from ourselves, unfaulted.
function wrongIssuerDiscovery(res) {
  const req = http.get(
    { host: '127.0.0.1', port: PORT, path: '/.well-known/openid-configuration', headers: { 'x-idp-internal': '1' } },
    (up) => {
      let data = '';
      up.setEncoding('utf8');
      up.on('data', (c) => { data += c; });
      up.on('end', () => {
        const doc = JSON.parse(data);
        doc.issuer = `${doc.issuer}/`;
        send(res, 200, 'application/json', JSON.stringify(doc));
      });
    },
  );
  req.on('error', (e) => send(res, 500, 'text/plain', String(e)));
}

// Returns true when the fault answered the request itself.
function applyFault(kind, req, res) {
  const fault = faults[kind];
  if (!fault || fault.mode === 'ok' || fault.mode === 'delay') return false;
  switch (fault.mode) {
    case '500':
      send(res, 500, 'application/json', '{"error":"server_error","error_description":"injected fault"}');
      return true;
    case 'invalid_grant':
      send(res, 400, 'application/json', '{"error":"invalid_grant","error_description":"injected refusal"}');
      return true;
    case 'html':
      send(res, 200, 'text/html', '<!doctype html><html><body><h1>Maintenance</h1></body></html>');
      return true;
    case 'garbage':
      send(res, 200, 'application/json', '{"keys": [ {"kty": "RSA", "n": tru');
      return true;
    case 'empty':
      send(res, 200, 'application/json', kind === 'jwks' ? '{"keys":[]}' : '{}');
      return true;
    case 'stall': {
      // Headers and half a body, then silence: the answer never completes.
      const body = kind === 'jwks' ? `{"keys": [${'{"kty": "RSA"}, '.repeat(64)}]}` : `{"padding": "${'x'.repeat(1024)}"}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.write(body.slice(0, body.length / 2));
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return true;
    }
    case 'hang':
      // Never answer. Remember the socket so it can be destroyed when the fault is cleared.
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return true;
    case 'wrong_issuer':
      if (kind !== 'discovery') return false;
      wrongIssuerDiscovery(res);
      return true;
    default:
      send(res, 500, 'text/plain', `unknown fault mode ${fault.mode}`);
      return true;
  }
}

const idpServer = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, ISSUER);
  const kind = kindOf(pathname);
  if (req.headers['x-idp-internal'] !== '1') {
    hits[kind] = (hits[kind] ?? 0) + 1;
    console.log(`${new Date().toISOString()} ${req.method} ${req.url} kind=${kind} fault=${faults[kind]?.mode ?? 'ok'}`);
    if (kind === 'revocation' && req.method === 'POST') await recordRevocation(req, res);
    if (applyFault(kind, req, res)) return;
    const delay = faults[kind]?.mode === 'delay' ? Number(faults[kind].delay_ms ?? 1000) : 0;
    if (delay > 0) {
      setTimeout(() => handler(req, res), delay);
      return;
    }
  }
  handler(req, res);
});

// ---------------------------------------------------------------------------------------------
// Control API

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

const MODES = new Set(['ok', '500', 'invalid_grant', 'html', 'garbage', 'empty', 'hang', 'stall', 'wrong_issuer', 'delay']);

async function control(req, res) {
  const { pathname } = new URL(req.url, 'http://127.0.0.1');
  const json = (status, obj) => send(res, status, 'application/json', JSON.stringify(obj));
  try {
    if (req.method === 'GET' && pathname === '/healthz') return send(res, 200, 'text/plain', 'ok');
    if (req.method === 'GET' && pathname === '/hits') return json(200, hits);
    if (req.method === 'POST' && pathname === '/reset-hits') {
      for (const k of Object.keys(hits)) delete hits[k];
      return json(200, hits);
    }
    if (req.method === 'POST' && pathname === '/fault') {
      const body = JSON.parse(await readBody(req));
      if (typeof body.target !== 'string' || !MODES.has(body.mode)) {
        return json(400, { error: `bad fault ${JSON.stringify(body)}` });
      }
      faults[body.target] = { mode: body.mode, delay_ms: body.delay_ms };
      if (body.mode !== 'hang' && body.mode !== 'stall') {
        for (const r of hanging) r.destroy();
      }
      return json(200, faults);
    }
    if (req.method === 'POST' && pathname === '/keys') {
      currentKeys = JSON.parse(await readBody(req));
      rebuild();
      return json(200, { kids: currentKeys.keys.map((k) => k.kid) });
    }
    if (req.method === 'POST' && pathname === '/config') {
      currentConfig = JSON.parse(await readBody(req));
      rebuild();
      return json(200, { ok: true });
    }
    if (req.method === 'GET' && pathname === '/sessions') return json(200, sessions);
    if (req.method === 'POST' && pathname === '/backchannel-logout') {
      return json(200, await sendBackchannelLogout(JSON.parse(await readBody(req))));
    }
    if (req.method === 'GET' && pathname === '/backchannel-logouts') return json(200, backchannelLogouts);
    if (req.method === 'GET' && pathname === '/revocations') return json(200, revocations);
    return json(404, { error: 'not found' });
  } catch (e) {
    return json(500, { error: String(e && e.stack ? e.stack : e) });
  }
}

idpServer.listen(PORT, '127.0.0.1', () => {
  console.log(`idp listening issuer=${ISSUER} kids=${currentKeys.keys.map((k) => k.kid).join(',')}`);
});

if (args['control-port']) {
  const controlServer = http.createServer((req, res) => { control(req, res); });
  controlServer.listen(Number(args['control-port']), '127.0.0.1', () => {
    console.log(`idp control listening on 127.0.0.1:${args['control-port']}`);
  });
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
