"""Plinth-style setup: idempotent, told the previously applied version (None at first)."""
import os

from ..utils.index import log, work_dir, write_atomic


def setup(old_version):
    ini = os.path.join(work_dir(), "app.ini")
    if old_version is None:
        log("first setup: writing app.ini")
        write_atomic(ini, "[server]\nHTTP_PORT = 3000\n")
    with open(ini) as handle:
        text = handle.read()
    if old_version is None or old_version < 2:
        # Version 2 moved the server to port 3001 and added a [security] section.
        text = text.replace("HTTP_PORT = 3000", "HTTP_PORT = 3001")
        if "[security]" not in text:
            text += "[security]\nINSTALL_LOCK = true\n"
        log(f"migrated app.ini from version {old_version} to 2")
    write_atomic(ini, text)
