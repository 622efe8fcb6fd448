#!/usr/bin/env python3
"""Write a git fast-import stream for a repository of COMMITS commits over FILES files.

The first commit adds every file; each later commit changes one file. Usage:
    python3 bench/make-big-repo.py 20000 5000 | git -C DIR fast-import --quiet
"""
import sys

commits = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
files = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
out = sys.stdout.buffer


def blob(text):
    data = text.encode()
    out.write(b"data %d\n" % len(data))
    out.write(data)
    out.write(b"\n")


when = 1767225600  # 2026-01-01
for n in range(commits):
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % (when + n))
    blob("commit %d\n" % n)
    if n == 0:
        for f in range(files):
            out.write(b"M 100644 inline apps/app-%d/file-%d.yaml\n" % (f % 50, f))
            blob("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  v: \"0\"\n" % f)
    else:
        f = (n * 7919) % files
        out.write(b"M 100644 inline apps/app-%d/file-%d.yaml\n" % (f % 50, f))
        blob("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  v: \"%d\"\n" % (f, n))
