"""Shared helpers for the example modules, imported as `from ..utils.index import ...`."""
import os
import tempfile


def work_dir():
    """The directory upkeep gives this module for its files."""
    path = os.environ["UPKEEP_WORK_DIR"]
    os.makedirs(path, exist_ok=True)
    return path


def log(message):
    print(f"[{os.environ.get('UPKEEP_MODULE', '?')}] {message}", flush=True)


def write_atomic(path, text):
    """Replace a file so readers see the old or the new content, never half."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
