"""The wheel carries the official browser client: ``build_py`` copies npm's
``socket.io-client/dist`` bundle (the version in package-lock.json; ``npm ci`` fetches it
when node_modules is missing) into ``roomcast/_bundle``. It is never committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DIST = HERE / "node_modules" / "socket.io-client" / "dist"
FILES = ("socket.io.js", "socket.io.min.js", "socket.io.msgpack.min.js", "socket.io.esm.min.js")


class BuildWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if not (DIST / "socket.io.js").is_file():
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit("building roomcast needs npm (for the socket.io-client bundle)")
            subprocess.run(
                [npm, "ci", "--omit=dev", "--no-audit", "--no-fund"], cwd=HERE, check=True
            )
        target = Path(self.build_lib) / "roomcast" / "_bundle"
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            for file in (name, name + ".map"):
                shutil.copyfile(DIST / file, target / file)


setup(cmdclass={"build_py": BuildWithBundle})
