// Copies the pinned player's browser bundle and stylesheet to where footlight serves them
// (/ui/static/vendor/). The bundle is self-contained (rrweb's replayer is inside), so the UI
// loads no code from anywhere but the footlight server.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "node_modules", "rrweb-player");
const target = join(here, "..", "src", "footlight", "ui", "static", "vendor");
mkdirSync(target, { recursive: true });
const files = {
  "dist/rrweb-player.umd.min.cjs": "rrweb-player.js",
  // The bundle's sourceMappingURL comment names the map by its original name.
  "dist/rrweb-player.umd.min.cjs.map": "rrweb-player.umd.min.cjs.map",
  "dist/style.min.css": "rrweb-player.css",
};
for (const [from, to] of Object.entries(files)) {
  copyFileSync(join(source, from), join(target, to));
}
const version = JSON.parse(readFileSync(join(source, "package.json"), "utf8")).version;
writeFileSync(join(target, "VERSION"), `rrweb-player ${version}\n`);
console.log(`rrweb-player ${version} -> ${target}`);
