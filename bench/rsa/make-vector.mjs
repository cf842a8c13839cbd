// Writes vector.json: fixed RSA keys (2048 and 4096 bits, e = 65537) and JWT signatures that
// the benchmark verifies. Run once; the output is committed so every run times the same input.
import { generateKeyPairSync, sign, constants } from "node:crypto";
import { writeFileSync } from "node:fs";

const b64 = (buf) => Buffer.from(buf).toString("base64url");
const header = b64(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "bench" }));
const payload = b64(
  JSON.stringify({
    iss: "https://idp.example.com/realms/bench",
    sub: "5f2b0c1e-8f5a-4d8e-9a1f-3c2b7e6d4a90",
    aud: "oidc-gate",
    exp: 4102444800,
    iat: 1700000000,
    email: "alice@example.com",
    name: "Alice Example",
    groups: ["engineering", "admins"],
    scope: "openid profile email",
  }),
);
const signingInput = `${header}.${payload}`;

function vector(bits) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 65537 });
  const jwk = publicKey.export({ format: "jwk" });
  const data = Buffer.from(signingInput);
  return {
    n: jwk.n,
    e: jwk.e,
    rs256: b64(sign("sha256", data, privateKey)),
    ps256: b64(sign("sha256", data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })),
  };
}

const out = { signing_input: signingInput, rsa2048: vector(2048), rsa4096: vector(4096) };
writeFileSync(new URL("./vector.json", import.meta.url), JSON.stringify(out, null, 1) + "\n");
console.log(`vector.json: signing input ${signingInput.length} bytes`);
