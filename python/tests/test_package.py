"""The package itself: stubs that match the module, py.typed, docstrings, and the
network client importable without the compiled module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import simd_r_drive
from simd_r_drive import _native

PACKAGE = Path(simd_r_drive.__file__).parent


def stub_classes() -> dict[str, set[str]]:
    tree = ast.parse((PACKAGE / "_native.pyi").read_text())
    classes: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
            classes[node.name] = names
    return classes


def test_the_stubs_describe_what_the_module_has() -> None:
    classes = stub_classes()
    assert {"DataStore", "EntryHandle", "NamespaceHasher", "StoreStats", "VerifyReport"} <= set(classes)
    for class_name, names in classes.items():
        runtime = getattr(_native, class_name)
        for name in names - {"__init__", "__buffer__"}:
            assert hasattr(runtime, name), f"the stub of {class_name} has {name}, the module has not"
    # And the other way: every public method of the native classes has a stub.
    for class_name, names in classes.items():
        runtime = getattr(_native, class_name)
        public = {name for name in vars(runtime) if not name.startswith("_")}
        assert public <= names, f"{class_name}: no stub for {sorted(public - names)}"


def test_the_package_is_typed_and_documented() -> None:
    assert (PACKAGE / "py.typed").exists()
    for name in simd_r_drive.__all__:
        assert getattr(simd_r_drive, name).__doc__, f"{name} has no docstring"
    for name in ("write", "read", "read_entry", "batch_read", "write_stream", "rename", "compact",
                 "write_with_ttl", "read_option", "import_dir_recursively", "read_stream"):
        assert getattr(simd_r_drive.DataStore, name).__doc__, f"DataStore.{name} has no docstring"


def test_the_network_client_imports_without_the_compiled_module(tmp_path: Path) -> None:
    # A copy of the package without _native*.so: the client must still import, and the
    # in-process names must say what is missing.
    import shutil

    copy = tmp_path / "simd_r_drive"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("_native*.so", "__pycache__"))
    script = (
        "import simd_r_drive, simd_r_drive.ws_client as ws\n"
        "assert ws.DataStoreWsClient and issubclass(ws.ConnectionError, simd_r_drive.Error)\n"
        "try:\n"
        "    simd_r_drive.DataStore\n"
        "except ImportError as error:\n"
        "    assert 'needs the compiled module' in str(error)\n"
        "else:\n"
        "    raise SystemExit('DataStore imported without the module')\n"
    )
    script = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + script
    script += "assert simd_r_drive.__file__.startswith(sys.path[0]), simd_r_drive.__file__\n"
    result = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_exceptions_form_one_hierarchy() -> None:
    from simd_r_drive import ws_client

    assert issubclass(simd_r_drive.NotFoundError, KeyError)
    assert issubclass(simd_r_drive.InvalidArgumentError, ValueError)
    assert issubclass(ws_client.ConnectionError, ConnectionError)
    assert issubclass(ws_client.TimeoutError, TimeoutError)
    for name in ("Error", "NotFoundError", "LockedError", "StoreClosedError", "ForkedProcessError"):
        error = getattr(simd_r_drive, name)
        assert issubclass(error, OSError) and error.__module__ == "simd_r_drive"
    import pickle

    error = pickle.loads(pickle.dumps(simd_r_drive.LockedError("held", "locked")))
    assert str(error) == "held" and error.code == "locked"
