"""Compile the shipped blocklist into a hosts file (deduplicated, sorted)."""
import os

from ..utils.index import log, work_dir, write_atomic


def main(args=None):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "blocklist.txt")) as handle:
        hosts = sorted({line.strip() for line in handle if line.strip() and not line.startswith("#")})
    target = os.path.join(work_dir(), "hosts.blocklist")
    write_atomic(target, "".join(f"0.0.0.0 {host}\n" for host in hosts))
    log(f"wrote {len(hosts)} blocked hosts to {target} (args: {args})")
