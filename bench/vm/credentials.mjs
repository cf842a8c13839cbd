// Writes what host.mjs needs into DIR: a filter configuration (config.json), the issuer's JWKS
// (jwks.json: an RSA, a P-256 and an Ed25519 key) and request files: one RS256 bearer token
// (bearer.txt) and COUNT distinct tokens per algorithm (fresh-RS256.txt, ...), all with the
// claims of the benchmark's tokens.
//
//   node credentials.mjs DIR [COUNT]
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { writeFileSync } from "node:fs";

const [dir, countArg] = process.argv.slice(2);
const count = Number(countArg ?? 10000);
const issuer = "http://127.0.0.1:9";
const clientId = "bench-vm";
writeFileSync(`${dir}/config.json`, JSON.stringify({
  issuer,
  idp_cluster: "idp",
  client_id: clientId,
  client_secret: "not-used",
  session_keys: [randomBytes(32).toString("base64")],
  session_cookie_secure: false,
}));

const keys = {
  RS256: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ES256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  EdDSA: generateKeyPairSync("ed25519"),
};
const jwks = Object.entries(keys).map(([alg, pair]) => ({ ...pair.publicKey.export({ format: "jwk" }), kid: alg, alg, use: "sig" }));
writeFileSync(`${dir}/jwks.json`, JSON.stringify({ keys: jwks }));

const base64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
function token(alg, jti) {
  const input = `${base64url({ alg, kid: alg, typ: "JWT" })}.${base64url({
    iss: issuer, aud: clientId, sub: "alice", email: "alice@example.com", groups: ["ml-admin", "dev"],
    iat: now, exp: now + 86400, jti,
  })}`;
  const key = keys[alg].privateKey;
  const signature = alg === "RS256" ? sign("sha256", Buffer.from(input), key)
    : alg === "ES256" ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
      : sign(null, Buffer.from(input), key);
  return `Authorization: Bearer ${input}.${signature.toString("base64url")}\n`;
}
writeFileSync(`${dir}/bearer.txt`, token("RS256", "repeated"));
for (const alg of Object.keys(keys)) {
  writeFileSync(`${dir}/fresh-${alg}.txt`, Array.from({ length: count }, (_, i) => token(alg, `t${i}`)).join(""));
}
