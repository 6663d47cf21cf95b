#!/usr/bin/env bash
# Installs the packed tarballs (dist-pack/, from `pnpm pack:check`) with plain npm into a scratch project at one
# end of the peer range, then type-checks (node16 ESM and CommonJS, no skipLibCheck) and runs a consumer that
# pays a sandbox task over HTTP, and checks that one copy of `effect` is installed.
#   scripts/peer-range.sh low    the lowest versions the peerDependencies allow (Effect 3.17)
#   scripts/peer-range.sh high   whatever npm picks today (the highest in range)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
end="${1:?usage: peer-range.sh low|high}"
peer() { node -p "require('$root/packages/inbox-sql/package.json').peerDependencies['$1']"; }
case "$end" in
  # The lowest minor line of each peer range (Effect 3.17 and the @effect/* releases made for it), each at the
  # patch npm picks: the @effect/* packages' own peers (cluster, rpc) need the latest 3.17 patches. core and
  # crypto-dsa alone are also tested on effect 3.17.0 exactly (below).
  low) app=(effect@~3.17.0) pins=(@effect/platform@~0.90.0 @effect/platform-node@~0.96.0 @effect/sql@~0.44.0
    @effect/sql-pg@~0.45.0 @effect/sql-sqlite-node@~0.45.0 @effect/cli@~0.69.0 @effect/printer@~0.45.0
    @effect/printer-ansi@~0.45.0) ;;
  # The optional SQL drivers are not installed with the rest: named here with inbox-sql's peer ranges.
  high) app=() pins=("@effect/sql-sqlite-node@$(peer @effect/sql-sqlite-node)" "@effect/sql-pg@$(peer @effect/sql-pg)") ;;
  *) echo "usage: peer-range.sh low|high" >&2; exit 2 ;;
esac
dir="$(mktemp -d /tmp/witkey-peer-range-XXXX)"
trap 'rm -rf "$dir"' EXIT
cd "$dir"
npm init -y >/dev/null
# At the low end the project already depends on its older effect (exact, as its lockfile would hold it) before
# witkey is installed: npm must share that copy, not bring a newer one.
if [ "${#app[@]}" -gt 0 ]; then npm install --no-audit --no-fund --save-exact --loglevel=error "${app[@]}" >/dev/null; fi
# @witkey/node is not among them: it has its own effect dependency by design (packages/node/README.md), and is
# checked by scripts/consumer-check.mjs.
tarballs=()
for p in core crypto-dsa console node-http inbox-sql testkit cli; do tarballs+=("$(ls "$root"/dist-pack/witkey-$p-*.tgz)"); done
# --ignore-scripts: better-sqlite3 (a peer of the SQLite driver) is not built; the smoke test does not open SQLite.
# The pins name both SQL drivers (optional peers); @types/pg is what @effect/sql-pg's declarations need.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error "${tarballs[@]}" "${pins[@]}" @types/pg >/dev/null
cp "$root/scripts/peer-range/smoke.ts" smoke.mts
cp "$root/scripts/peer-range/smoke.ts" smoke.cts
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "module": "node16",
    "target": "es2022",
    "strict": true,
    "exactOptionalPropertyTypes": true,
    "skipLibCheck": false,
    "types": ["node"],
    "typeRoots": ["ROOT/node_modules/@types"]
  },
  "files": ["smoke.mts", "smoke.cts"]
}
JSON
sed -i "s#ROOT#$root#" tsconfig.json
"$root/node_modules/.bin/tsc" -p tsconfig.json
node smoke.mjs
node smoke.cjs
npx witkey --help >/dev/null
# --help is printed without @effect/cli (packages/cli/README.md, Startup): a command runs through it.
npx witkey canonical --charset utf-8 --param a=1 >/dev/null
npm ls --depth=0 | grep -E "effect|witkey/cli"
copies="$(npm ls effect --all --parseable 2>/dev/null | xargs -I{} node -p 'require("{}/package.json").version' | sort -u)"
echo "effect installed: $copies"
[ "$(echo "$copies" | wc -l)" = 1 ]
if [ "$end" = low ]; then
  # core and crypto-dsa alone on the lowest effect the range names.
  rm -rf node_modules package-lock.json package.json && npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error "$(ls "$root"/dist-pack/witkey-core-*.tgz)" \
    "$(ls "$root"/dist-pack/witkey-crypto-dsa-*.tgz)" effect@3.17.0 >/dev/null
  cat > core.mts <<'TS'
import { ConfirmRequest } from "@witkey/core"
import { DsaSigner } from "@witkey/crypto-dsa"
import { Effect, Redacted } from "effect"
export const signer = DsaSigner.make({ privateKey: Redacted.make("x") })
console.log(typeof ConfirmRequest, typeof Effect.runPromise)
TS
  sed -i 's#"smoke.mts", "smoke.cts"#"core.mts"#' tsconfig.json
  "$root/node_modules/.bin/tsc" -p tsconfig.json
  node core.mjs
  echo "core and crypto-dsa on effect $(node -p 'require("effect/package.json").version')"
fi
echo "peer range $end: ok"
