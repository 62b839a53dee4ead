"""Write filebrowser's settings, keeping any settings a person added."""
import json
import os

from ..utils.index import log, work_dir, write_atomic


def main(args=None):
    path = os.path.join(work_dir(), "settings.json")
    settings = {}
    if os.path.exists(path):
        with open(path) as handle:
            settings = json.load(handle)
    settings.update({"port": 8080, "root": "/srv/files", "version": os.environ.get("UPKEEP_VERSION")})
    write_atomic(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")
    log(f"settings now have {len(settings)} keys")
