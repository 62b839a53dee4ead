"""Keep the atuin client configuration at the declared version's defaults."""
import os

from ..utils.index import log, work_dir, write_atomic


def main(args=None):
    version = os.environ.get("UPKEEP_VERSION", "")
    config = os.path.join(work_dir(), "config.toml")
    write_atomic(config, f'# managed by upkeep for atuin {version}\nauto_sync = true\nsync_frequency = "10m"\n')
    log(f"atuin config written for {version}")
