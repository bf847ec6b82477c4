"""Assemble the page: ``web/src`` plus the vendored browser builds of the pinned npm packages
(``web/package-lock.json``, installed by ``npm ci``) into ``gaitcoach/dashboard/www``, with
the licences and a manifest. No bundler: the libraries ship ready browser builds
(``mqtt.min.js``, ``uPlot.iife.min.js``), and Mosquitto serves files without a Content-Type,
so the page uses classic scripts (a module script would need ``text/javascript``).

``python web/build.py`` (``./run`` calls it). A tool of the checkout, not of the package:
the wheel carries the built page, not its sources.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from gaitcoach.dashboard.server import MANIFEST, WWW

WEB = Path(__file__).resolve().parent
ROOT = WEB.parent

VENDORED = {
    # package -> (file in the package, name in www)
    "mqtt": [("dist/mqtt.min.js", "mqtt.min.js")],
    "uplot": [
        ("dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
        ("dist/uPlot.min.css", "uPlot.min.css"),
    ],
}
LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")


def _package(node_modules: Path, name: str) -> dict[str, object]:
    return json.loads((node_modules / name / "package.json").read_text())


def licences(web: Path = WEB) -> tuple[list[tuple[str, str, str]], str]:
    """(name, version, licence) of every package in the lockfile, and the full licence texts
    of the vendored ones. mqtt.min.js embeds mqtt's runtime dependencies (and Node polyfills
    for the browser), so the list covers the whole lockfile, not just the two named packages.
    """
    lock = json.loads((web / "package-lock.json").read_text())
    rows = []
    for key, meta in sorted(lock["packages"].items()):
        if not key:
            continue
        name = key.split("node_modules/")[-1]
        rows.append((name, str(meta.get("version", "?")), str(meta.get("license", "?"))))
    texts = []
    for name in VENDORED:
        folder = web / "node_modules" / name
        for fname in LICENCE_FILES:
            if (folder / fname).is_file():
                texts.append(f"== {name} ==\n{(folder / fname).read_text().strip()}\n")
                break
        else:
            lic = _package(web / "node_modules", name)["license"]
            texts.append(f"== {name} ==\n(licence: {lic})\n")
    return rows, "\n".join(texts)


def build(web: Path = WEB, out: Path = WWW) -> list[str]:
    """Write the page into ``out`` (replaced whole); returns its files."""
    node_modules = web / "node_modules"
    if not node_modules.is_dir():
        raise SystemExit(f"build: {node_modules} missing: run npm ci in {web} first (./run does)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files: dict[str, str] = {}
    for src in sorted((web / "src").iterdir()):
        if src.is_file():
            shutil.copyfile(src, tmp / src.name)
    for package, items in VENDORED.items():
        for inner, name in items:
            shutil.copyfile(node_modules / package / inner, tmp / name)
    rows, texts = licences(web)
    lines = ["Third-party JavaScript in this page (from web/package-lock.json):", ""]
    lines += [f"{n} {v} {lic}" for n, v, lic in rows]
    (tmp / "LICENSES.txt").write_text("\n".join(lines) + "\n\n" + texts)
    for path in sorted(tmp.iterdir()):
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    versions = {name: str(_package(node_modules, name)["version"]) for name in VENDORED}
    manifest = {"files": sorted(files), "sha256": files, "vendored": versions}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return sorted(files)


if __name__ == "__main__":
    names = build()
    print(f"dashboard: {len(names)} files in {WWW.relative_to(ROOT)}", file=sys.stderr)
