"""Vendor the playground's and the dashboard's browser files from npm.

Run by a maintainer when a pinned version changes (node and npm needed):

    python3 scripts/fetch_graphiql.py

Each package is fetched with ``npm pack`` at an exact version, its tarball is
checked against the pinned integrity, and the built files are copied into
gql_service/static/graphiql/ with the package's license and a VERSIONS file
listing what came from where. The service then needs no network at all.

The stylesheets embed fonts and icons as ``data:`` URLs, which a
Content-Security-Policy of ``default-src 'self'`` refuses; they are written
out as files under ``assets/`` and the stylesheet points at them instead.
Every other file is copied byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "gql_service/static/graphiql"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str
    # Path inside the tarball (below package/) -> file name in TARGET.
    files: dict[str, str]
    license: str | None
    # Why the page needs it; written into VERSIONS.
    purpose: str
    stylesheets: frozenset[str] = field(default_factory=frozenset)

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def slug(self) -> str:
        return self.name.lstrip("@").replace("/", "-")


PACKAGES = [
    Package(
        "react",
        "18.2.0",
        "sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU"
        "/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==",
        {"umd/react.production.min.js": "react.production.min.js"},
        "LICENSE",
        "GraphiQL's UI library (UMD production build)",
    ),
    Package(
        "react-dom",
        "18.2.0",
        "sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVX"
        "tPBtJenozv2P+hxDsw9eA7Xo6g==",
        {"umd/react-dom.production.min.js": "react-dom.production.min.js"},
        "LICENSE",
        "React's DOM renderer (UMD production build)",
    ),
    Package(
        "graphiql",
        "3.8.3",
        "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30Rz"
        "xhuLSWo9zUbzq0P3U49//H0Ugw==",
        {
            "graphiql.min.js": "graphiql.min.js",
            "graphiql.min.css": "graphiql.min.css",
        },
        "LICENSE",
        "the playground (UMD build; bundles graphql-js and graphql-ws)",
        frozenset({"graphiql.min.css"}),
    ),
    Package(
        "@graphiql/plugin-explorer",
        "1.0.2",
        "sha512-9j+kg2UjtLZD5EBmGjeWHkoVVxtbShYg2DzbUVebibnZYZM/iMBEF4vaccXJ"
        "IAm5KaomIPLx0aoNs4LbODyc3Q==",
        {
            "dist/index.umd.js": "graphiql-plugin-explorer.umd.js",
            "dist/style.css": "graphiql-plugin-explorer.css",
        },
        # The tarball has no license file; package.json says MIT and the
        # code is the graphiql monorepo's, so graphiql's LICENSE is quoted.
        None,
        "the playground's query builder panel (bundles graphiql-explorer)",
        frozenset({"graphiql-plugin-explorer.css"}),
    ),
    Package(
        "graphiql-explorer",
        "0.9.0",
        "sha512-fZC/wsuatqiQDO2otchxriFO0LaWIo/ovF/CQJ1yOudmY0P7pzDiP+l9CEHU"
        "iWbizk3e99x6DQG4XG1VxA+d6A==",
        {},
        "LICENSE",
        "license only: its code is bundled in graphiql-plugin-explorer.umd.js",
    ),
    Package(
        "graphql-ws",
        "6.4.2",
        "sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/"
        "uaUuiVUxwO9ssI9R92buQfNSqQ==",
        {"umd/graphql-ws.min.js": "graphql-ws.min.js"},
        "LICENSE.md",
        "the dashboard's graphql-transport-ws client (UMD, global graphqlWs)",
    ),
]

DATA_URL = re.compile(
    r"""url\((["']?)data:([a-z]+/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)\1\)"""
)
EXTENSIONS = {
    "font/woff2": "woff2",
    "font/woff": "woff",
    "font/ttf": "ttf",
    "image/png": "png",
    "image/gif": "gif",
    "image/svg+xml": "svg",
}
SOURCE_MAP = re.compile(r"/\*# sourceMappingURL=[^*]*\*/\s*$")


def npm_pack(package: Package, destination: Path) -> Path:
    """Fetch the package's tarball; fail unless it has the pinned integrity."""
    output = subprocess.run(
        [
            "npm",
            "pack",
            package.spec,
            "--json",
            "--ignore-scripts",
            "--pack-destination",
            str(destination),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (packed,) = json.loads(output)
    if packed["integrity"] != package.integrity:
        raise SystemExit(
            f"{package.spec}: integrity {packed['integrity']} "
            f"differs from the pinned {package.integrity}"
        )
    return destination / str(packed["filename"])


def read_member(tarball: Path, path: str) -> bytes:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/" + path)
        if member is None:
            raise SystemExit(f"{tarball.name}: {path} is not a file")
        return member.read()


def externalize_data_urls(css: str, assets: dict[str, bytes]) -> str:
    """Move base64 data: URLs into asset files the CSP's 'self' allows."""

    def replace(match: re.Match[str]) -> str:
        mime, payload = match.group(2), match.group(3)
        content = base64.b64decode(payload)
        name = f"{hashlib.sha256(content).hexdigest()[:16]}.{EXTENSIONS[mime]}"
        assets[name] = content
        return f"url(assets/{name})"

    rewritten = SOURCE_MAP.sub("", DATA_URL.sub(replace, css))
    if "data:" in rewritten:
        raise SystemExit("a data: URL in a stylesheet was not externalized")
    return rewritten


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def license_text(package: Package, tarball: Path, graphiql_license: bytes) -> bytes:
    if package.license is not None:
        return read_member(tarball, package.license)
    note = (
        f"{package.spec} ships no license file; its package.json declares "
        '"license": "MIT". It is developed in the graphiql monorepo '
        "(https://github.com/graphql/graphiql), whose LICENSE follows.\n\n"
    )
    return note.encode() + graphiql_license


def vendor(packages: list[Package], workdir: Path) -> None:
    tarballs = {package.name: npm_pack(package, workdir) for package in packages}
    graphiql_license = read_member(tarballs["graphiql"], "LICENSE")
    outputs: dict[str, bytes] = {}
    assets: dict[str, bytes] = {}
    lines = [
        "Vendored with scripts/fetch_graphiql.py (npm pack at exact versions).",
        "Stylesheets marked 'rewritten' had their data: URLs moved to assets/.",
        "",
    ]
    for package in packages:
        tarball = tarballs[package.name]
        lines.append(f"{package.spec}  {package.integrity}")
        lines.append(f"  for {package.purpose}")
        for source, name in package.files.items():
            content = read_member(tarball, source)
            note = ""
            if name in package.stylesheets:
                css = externalize_data_urls(content.decode(), assets)
                content = css.encode()
                note = " (rewritten)"
            outputs[name] = content
            lines.append(
                f"  {name}  <- package/{source}{note}  sha256:{sha256(content)}"
            )
        license_name = f"LICENSE.{package.slug}"
        outputs[license_name] = license_text(package, tarball, graphiql_license)
        lines.append(f"  {license_name}")
        lines.append("")
    for name, content in sorted(assets.items()):
        outputs["assets/" + name] = content
    lines.append(f"assets/: {len(assets)} files extracted from the stylesheets")
    outputs["VERSIONS"] = ("\n".join(lines) + "\n").encode()
    write(outputs)


def write(outputs: dict[str, bytes]) -> None:
    """Replace TARGET's contents with ``outputs``; nothing stale survives."""
    if TARGET.exists():
        shutil.rmtree(TARGET)
    for name, content in outputs.items():
        path = TARGET / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    print(f"wrote {len(outputs)} files to {TARGET}")


def main() -> None:
    if shutil.which("npm") is None:
        raise SystemExit("npm is required to fetch the pinned packages")
    with tempfile.TemporaryDirectory() as workdir:
        vendor(PACKAGES, Path(workdir))


if __name__ == "__main__":
    main()
