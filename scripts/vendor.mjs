// Copies the browser builds the portal pages use from node_modules into the git-ignored
// src/portail/web/static/vendor/<package>/, served at /static/vendor/. Runs after `npm ci`
// (package.json postinstall). The list is explicit: only these files are ever served.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "src", "portail", "web", "static", "vendor");
const files = {
  "maplibre-gl": ["dist/maplibre-gl.js", "dist/maplibre-gl.css"],
  "echarts": ["dist/echarts.min.js"],
  "swagger-ui-dist": ["swagger-ui-bundle.js", "swagger-ui.css"],
};

rmSync(target, { recursive: true, force: true });
for (const [pkg, paths] of Object.entries(files)) {
  mkdirSync(join(target, pkg), { recursive: true });
  for (const path of paths) {
    cpSync(join(root, "node_modules", pkg, path), join(target, pkg, path.split("/").pop()));
  }
}
console.log(`vendor assets copied to ${target}`);
