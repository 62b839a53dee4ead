"""Proof of fail-closed: if upkeep ever runs this module, it leaves a mark."""
import os
import pathlib


def main(args=None):
    work = pathlib.Path(os.environ["UPKEEP_WORK_DIR"])
    work.mkdir(parents=True, exist_ok=True)
    (work / "SENTINEL_RAN").write_text("ran\n")
