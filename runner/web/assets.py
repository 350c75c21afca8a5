"""The browser bundles the pages load: bpmn-js, form-js and Chart.js UMD builds from npm, served as static files.

`npm ci` (make install) puts them under node_modules/; `main()` here (make install calls it) copies the
few files the pages use into runner/web/static/vendor/ (git-ignored), with each package's LICENSE, and
writes MANIFEST.json with the versions. The pages add the version to each URL, so a new bundle is
never served from a stale browser cache. Their licence asks for the bpmn.io watermark to stay visible:
the pages never hide it.
"""
from __future__ import annotations

import json
import shutil
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"

# vendor path -> (npm package, path inside the package)
FILES = {
    "bpmn-js/bpmn-navigated-viewer.production.min.js": ("bpmn-js", "dist/bpmn-navigated-viewer.production.min.js"),
    "bpmn-js/diagram-js.css": ("bpmn-js", "dist/assets/diagram-js.css"),
    "bpmn-js/bpmn-js.css": ("bpmn-js", "dist/assets/bpmn-js.css"),
    "bpmn-js/LICENSE": ("bpmn-js", "LICENSE"),
    "form-js/form-viewer.umd.js": ("@bpmn-io/form-js", "dist/form-viewer.umd.js"),
    "form-js/form-js.css": ("@bpmn-io/form-js", "dist/assets/form-js.css"),
    "form-js/flatpickr-light.css": ("@bpmn-io/form-js", "dist/assets/flatpickr/light.css"),
    "form-js/LICENSE": ("@bpmn-io/form-js", "LICENSE"),
    # the analysts' modeler pages (pages_modeler.py): bpmn-js Modeler + Camunda 7 properties panel, dmn-js, form-js editor
    "bpmn-js/bpmn-modeler.production.min.js": ("bpmn-js", "dist/bpmn-modeler.production.min.js"),
    **{f"bpmn-js/bpmn-font/{name}": ("bpmn-js", f"dist/assets/bpmn-font/{name}")
       for name in ("css/bpmn.css", "font/bpmn.woff2", "font/bpmn.woff", "font/bpmn.ttf", "font/bpmn.eot",
                    "font/bpmn.svg")},
    "bpmn-js-properties-panel/bpmn-js-properties-panel.umd.js": ("bpmn-js-properties-panel",
                                                                 "dist/bpmn-js-properties-panel.umd.js"),
    "bpmn-js-properties-panel/LICENSE": ("bpmn-js-properties-panel", "LICENSE"),
    "properties-panel/properties-panel.css": ("@bpmn-io/properties-panel", "dist/assets/properties-panel.css"),
    "properties-panel/LICENSE": ("@bpmn-io/properties-panel", "LICENSE"),
    "camunda-bpmn-moddle/camunda.json": ("camunda-bpmn-moddle", "resources/camunda.json"),
    "camunda-bpmn-moddle/LICENSE": ("camunda-bpmn-moddle", "LICENSE"),
    "dmn-js/dmn-modeler.production.min.js": ("dmn-js", "dist/dmn-modeler.production.min.js"),
    **{f"dmn-js/{name}": ("dmn-js", f"dist/assets/{name}")
       for name in ("diagram-js.css", "dmn-js-shared.css", "dmn-js-drd.css", "dmn-js-decision-table.css",
                    "dmn-js-decision-table-controls.css", "dmn-js-literal-expression.css",
                    "dmn-js-boxed-expression.css", "dmn-js-boxed-expression-controls.css",
                    "dmn-font/css/dmn.css", "dmn-font/font/dmn.woff2", "dmn-font/font/dmn.woff",
                    "dmn-font/font/dmn.ttf", "dmn-font/font/dmn.eot", "dmn-font/font/dmn.svg")},
    "dmn-js/LICENSE": ("dmn-js", "LICENSE"),
    "form-js/form-editor.umd.js": ("@bpmn-io/form-js", "dist/form-editor.umd.js"),
    "form-js/form-js-editor.css": ("@bpmn-io/form-js", "dist/assets/form-js-editor.css"),
    "form-js/properties-panel.css": ("@bpmn-io/form-js", "dist/assets/properties-panel.css"),
    # the metrics dashboard (pages_metrics.py)
    "chart.js/chart.umd.js": ("chart.js", "dist/chart.umd.js"),
    "chart.js/LICENSE.md": ("chart.js", "LICENSE.md"),
}


class AssetsMissing(RuntimeError):
    pass


def copy_assets(node_modules: Path = NODE_MODULES, target: Path = VENDOR) -> dict[str, str]:
    """Copy the bundles from node_modules into the static folder; returns {package: version}."""
    versions: dict[str, str] = {}
    missing = [f"{package}/{inner}" for package, inner in FILES.values() if not (node_modules / package / inner).is_file()]
    if missing:
        raise AssetsMissing(f"{node_modules} lacks {', '.join(missing)}: run `npm ci` at the repository root")
    for vendored, (package, inner) in FILES.items():
        destination = target / vendored
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / package / inner, destination)
        if package not in versions:
            versions[package] = json.loads((node_modules / package / "package.json").read_text())["version"]
    (target / "MANIFEST.json").write_text(json.dumps({"versions": versions, "files": sorted(FILES)}, indent=2) + "\n")
    return versions


def assets_present(target: Path = VENDOR) -> bool:
    return (target / "MANIFEST.json").is_file() and all((target / name).is_file() for name in FILES)


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    try:
        return json.loads(MANIFEST.read_text())["versions"]
    except (OSError, ValueError, KeyError):
        return {}


def vendor_url_suffix(vendored: str) -> str:
    """`?v=<package version>` for a vendored file (empty when the manifest is missing)."""
    package = FILES.get(vendored, ("", ""))[0]
    version = _versions().get(package)
    return f"?v={version}" if version else ""


def main() -> int:
    try:
        versions = copy_assets()
    except AssetsMissing as exc:
        print(exc, file=sys.stderr)
        return 1
    print("vendored " + ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
          + f" into {VENDOR.relative_to(ROOT)}")
    return 0
