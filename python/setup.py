"""Builds simd_r_drive._native with the project's CMake build, then packages it.

The module's sources and flags live in python/CMakeLists.txt only: this script runs
CMake for the target simd_r_drive_python in the project's build directory (build/ at
the top of the source tree, or $SIMD_R_DRIVE_CMAKE_BUILD_DIR), for the interpreter that
runs it, and copies the module it produced into the package. An existing build directory
is reused, so a `make build` beforehand makes the install a matter of seconds.

Environment:
  SIMD_R_DRIVE_CMAKE_BUILD_DIR  the CMake build directory (default: <source>/build)
  SIMD_R_DRIVE_SOURCE_DIR       the project's source tree, if this file is not in it
  CMAKE_BUILD_PARALLEL_LEVEL    build jobs (default: 2)
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def source_dir() -> Path:
    given = os.environ.get("SIMD_R_DRIVE_SOURCE_DIR")
    root = Path(given).resolve() if given else HERE.parent
    if not (root / "CMakeLists.txt").is_file() or not (root / "python" / "CMakeLists.txt").is_file():
        raise SystemExit(
            f"setup.py: the project's source tree is not at {root}; build from a checkout "
            "(pip install ./python) or set SIMD_R_DRIVE_SOURCE_DIR"
        )
    return root


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        root = source_dir()
        # A relative build directory names one under the source tree: pip runs this in
        # python/, so resolving against the working directory would configure a second,
        # unrelated build there (with none of the given build's options).
        given = Path(os.environ.get("SIMD_R_DRIVE_CMAKE_BUILD_DIR", "build"))
        build_dir = (given if given.is_absolute() else root / given).resolve()
        # The interpreter itself, not a venv's link to it: the module is built for it.
        python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        configure = ["cmake", "-S", str(root), "-B", str(build_dir), f"-DPython_EXECUTABLE={python}",
                     "-DSRD_BUILD_PYTHON=ON"]
        if not (build_dir / "CMakeCache.txt").exists():
            configure += ["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"]
        subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "simd_r_drive_python", "-j", jobs],
                       check=True)
        built = sorted((build_dir / "python" / "simd_r_drive").glob("_native*.so"))
        if not built:
            raise SystemExit(f"setup.py: CMake built no module into {build_dir / 'python' / 'simd_r_drive'} "
                             "(are python3-dev and pybind11-dev installed? scripts/install-deps.sh)")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[-1], target)


(HERE.parent / "build" / "python-setuptools").mkdir(parents=True, exist_ok=True)
setup(
    ext_modules=[Extension("simd_r_drive._native", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
