// Writes vector.json: a fixed P-256, P-384 and Ed25519 key with ES256, ES384 and EdDSA signatures
// of one JWT signing input. Run once; the output is committed so every run times the same input.
import { generateKeyPairSync, sign } from "node:crypto";
import { writeFileSync } from "node:fs";

const b64 = (buf) => Buffer.from(buf).toString("base64url");
const header = b64(JSON.stringify({ alg: "ES256", typ: "JWT", kid: "bench" }));
const payload = b64(
  JSON.stringify({
    iss: "https://idp.example.com/realms/bench",
    sub: "5f2b0c1e-8f5a-4d8e-9a1f-3c2b7e6d4a90",
    aud: "oidc-gate",
    exp: 4102444800,
    iat: 1700000000,
    email: "alice@example.com",
    groups: ["engineering", "admins"],
  }),
);
const signingInput = `${header}.${payload}`;
const data = Buffer.from(signingInput);

const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ecJwk = ec.publicKey.export({ format: "jwk" });
const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const ec384Jwk = ec384.publicKey.export({ format: "jwk" });
const ed = generateKeyPairSync("ed25519");
const edJwk = ed.publicKey.export({ format: "jwk" });

const out = {
  signing_input: signingInput,
  p256: { x: ecJwk.x, y: ecJwk.y, es256: b64(sign("sha256", data, { key: ec.privateKey, dsaEncoding: "ieee-p1363" })) },
  p384: { x: ec384Jwk.x, y: ec384Jwk.y, es384: b64(sign("sha384", data, { key: ec384.privateKey, dsaEncoding: "ieee-p1363" })) },
  ed25519: { x: edJwk.x, eddsa: b64(sign(null, data, ed.privateKey)) },
};
writeFileSync(new URL("./vector.json", import.meta.url), JSON.stringify(out, null, 1) + "\n");
console.log(`vector.json: signing input ${signingInput.length} bytes`);
