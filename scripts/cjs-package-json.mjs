// After `tsc -b tsconfig.build.json`: marks each package's dist/cjs as CommonJS. The packages are
// `"type": "module"`, so Node (and TypeScript under node16/nodenext) would otherwise read the CommonJS build's
// .js and .d.ts files as ES modules.
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"

for (const name of readdirSync("packages")) {
  const dir = join("packages", name, "dist", "cjs")
  if (existsSync(dir)) writeFileSync(join(dir, "package.json"), `{ "type": "commonjs" }\n`)
}
