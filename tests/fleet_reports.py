"""Fleet reports at scale, for the tests and ``make bench``: a thousand nodes made from one real node report."""

import copy
import json
from pathlib import Path

from torchup.installer.fleet import report


def thousand_node_reports(directory: Path, real: dict) -> dict:
    """1,000 node reports made from a real one; a few with a value changed. Returns what was changed.

    The real node's ranks all get its first rank's figures: two ranks timed on a busy machine may
    differ by more than the tolerance, and the copies are to differ only where they are changed."""
    template = copy.deepcopy(real["nodes"][0])
    for rank in template["ranks"]:
        rank.update({key: template["ranks"][0][key] for key in ("gemm", "allreduce", "busbw_gbps")})
    changed = {"17": "numpy", "503": "canary", "998": "doctor"}
    for index in range(1000):
        record = copy.deepcopy(template)
        record["node"], record["host"] = str(index), f"gpu{index:04d}"
        for rank in record["ranks"]:
            rank["rank"] = index * 2 + (rank["local_rank"] or 0)
        if changed.get(str(index)) == "numpy":
            record["facts"]["numpy"] = "2.3.5"
        elif changed.get(str(index)) == "canary":
            record["ranks"][0]["canary"] = dict(record["ranks"][0]["canary"], exact=False, wrong_elements=7)
        elif changed.get(str(index)) == "doctor":
            record["doctor"] = [dict(record["doctor"][0], status="fail", evidence="torch does not import")] + record["doctor"][1:]
        (directory / f"node-{index}.json").write_text(json.dumps({"schema": 1, "kind": report.NODE_KIND, "nodes": [record]}))
    return changed
