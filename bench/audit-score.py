#!/usr/bin/python3
"""Scores an audit's label issues against the files bench/audit-make-noisy.py moved: precision of
the first N issues (N = files moved), recall among all issues reported, and how many were reported.
Prints one JSON line.

    bench/audit-score.py AUDITDIR/audit.json MOVED.txt [--seconds S]
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("audit")
    ap.add_argument("moved")
    ap.add_argument("--seconds", type=float, default=None)
    a = ap.parse_args()
    with open(a.audit) as f:
        audit = json.load(f)
    moved = {os.path.realpath(p) for p in open(a.moved).read().split()}
    ranked = [os.path.realpath(i["path"]) for i in audit["label_issues"]]
    n = len(moved)
    hits = [p in moved for p in ranked]
    out = {"method": "audit", "images": audit["images"], "moved": n,
           "precision_at_n": sum(hits[:n]) / n if n else 0.0,
           "recall": sum(hits) / n if n else 0.0, "reported": len(ranked)}
    if a.seconds is not None:
        out["seconds"] = round(a.seconds, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
