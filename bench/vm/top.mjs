// The functions a V8 CPU profile (node --cpu-prof) spent its time in: self and inclusive
// shares, Rust names demangled to their paths.
//
//   node top.mjs PROFILE.cpuprofile [ROWS]
import { readFileSync } from "node:fs";

const [path, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg ?? 25);
const profile = JSON.parse(readFileSync(path));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

/// `_ZN9oidc_gate4core6decide6bearer17h…E` -> `oidc_gate::core::decide::bearer`.
function demangle(name) {
  if (!name.startsWith("_ZN")) return name || "(anonymous)";
  const parts = [];
  for (let at = 3; /\d/.test(name[at] ?? "");) {
    const digits = name.slice(at).match(/^\d+/)[0];
    const part = name.substr(at + digits.length, Number(digits));
    at += digits.length + Number(digits);
    if (!/^h[0-9a-f]{16}$/.test(part)) parts.push(part);
  }
  return parts.join("::").replace(/\$LT\$/g, "<").replace(/\$GT\$/g, ">").replace(/\$u20\$/g, " ")
    .replace(/\$RF\$/g, "&").replace(/\$C\$/g, ",").replace(/\.\./g, "::");
}

const self = new Map();
const inclusive = new Map();
for (const sample of profile.samples) {
  const name = demangle(nodes.get(sample).callFrame.functionName);
  self.set(name, (self.get(name) ?? 0) + 1);
  const seen = new Set();
  for (let id = sample; id !== undefined; id = parent.get(id)) {
    const frame = demangle(nodes.get(id).callFrame.functionName);
    if (!seen.has(frame)) {
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + 1);
    }
  }
}
const show = (title, counts) => {
  console.log(title);
  for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${(100 * n / profile.samples.length).toFixed(1).padStart(6)} %  ${name.slice(0, 140)}`);
  }
};
show("self", self);
show("\ninclusive", inclusive);
