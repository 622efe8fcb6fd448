#!/usr/bin/env bash
# Source stage vs git (issue 4): cold clone and no-change fetch of a generated repository
# (COMMITS commits over FILES files, bench/make-big-repo.py) served by `git daemon` on loopback.
#
#   bench/source-bench.sh                # 20,000 commits, 5,000 files
#   COMMITS=2000 FILES=500 RUNS=5 bench/source-bench.sh
#
# Compares, with hyperfine:
#   cold:  `git clone --bare git://.../repo.git DIR`  vs  `fetch git://.../repo.git FRESH_CACHE`
#   warm:  `git -C MIRROR fetch` with nothing new     vs  `fetch git://.../repo.git WARM_CACHE`
#          (and `git ls-remote`: one handshake, no fetch)
# where `fetch` is crates/source/examples/fetch.rs built in release (the Source stage alone:
# fetch into the clone cache, resolve HEAD). Results go to $OUT (default: a temp directory,
# printed at the end) as hyperfine JSON and Markdown. Honours CARGO_TARGET_DIR. Needs git,
# python3, hyperfine. Everything it starts is stopped and its work directory removed on exit
# (KEEP=1 keeps the generated repository and results).
set -euo pipefail
cd "$(dirname "$0")/.."

COMMITS=${COMMITS:-20000}
FILES=${FILES:-5000}
RUNS=${RUNS:-10}
WARM_RUNS=${WARM_RUNS:-30}

for tool in git python3 hyperfine cargo; do
    command -v "$tool" >/dev/null || { echo "source-bench: $tool is not installed" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/driftless-source-bench.XXXXXX")
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
DAEMON_PID=
cleanup() {
    if [[ -n "$DAEMON_PID" ]]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
    if [[ "${KEEP:-0}" != 1 ]]; then
        # Checkouts are read-only; the benchmark makes none, but be safe.
        chmod -R u+w "$WORK" 2>/dev/null || true
        if [[ "$OUT" == "$WORK/results" ]]; then
            echo "results (about to be removed with $WORK):"; cat "$OUT"/*.md 2>/dev/null || true
        fi
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# git without the user's or the system's configuration, for both sides of the comparison.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

echo "== building the fetch example (release)"
cargo build --release --quiet -p driftless-source --example fetch
FETCH=${CARGO_TARGET_DIR:-target}/release/examples/fetch
[[ "$FETCH" = /* ]] || FETCH=$PWD/$FETCH

echo "== generating $COMMITS commits over $FILES files"
REPO=$WORK/srv/repo.git
git init -q --bare -b main "$REPO"
started=$(date +%s)
python3 bench/make-big-repo.py "$COMMITS" "$FILES" | git -C "$REPO" fast-import --quiet
# One well-deltified pack with a bitmap, as a long-lived server repository has.
git -C "$REPO" repack -a -d -q --write-bitmap-index
echo "   $(git -C "$REPO" rev-list --count main) commits, $(git -C "$REPO" ls-tree -r main | wc -l) files," \
     "pack $(du -sh "$REPO/objects/pack" | cut -f1), $(( $(date +%s) - started )) s"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --reuseaddr --listen=127.0.0.1 --port="$PORT" --base-path="$WORK/srv" --export-all \
    --informative-errors "$WORK/srv" 2>"$WORK/daemon.log" &
DAEMON_PID=$!
URL="git://127.0.0.1:$PORT/repo.git"
for _ in $(seq 100); do
    git ls-remote "$URL" >/dev/null 2>&1 && break
    sleep 0.1
done
git ls-remote "$URL" >/dev/null || { echo "git daemon did not start:"; cat "$WORK/daemon.log"; exit 3; }

echo "== cold clone ($RUNS runs)"
hyperfine --style basic --warmup 1 --runs "$RUNS" \
    --prepare "rm -rf '$WORK/git-cold' '$WORK/dl-cold'" \
    --export-json "$OUT/cold.json" --export-markdown "$OUT/cold.md" \
    -n "git clone --bare" "git clone -q --bare $URL '$WORK/git-cold'" \
    -n "driftless fetch (cold cache)" "'$FETCH' $URL '$WORK/dl-cold'"

echo "== no-change fetch ($WARM_RUNS runs)"
git clone -q --mirror "$URL" "$WORK/git-warm"
"$FETCH" "$URL" "$WORK/dl-warm" >/dev/null
hyperfine --style basic -N --warmup 3 --runs "$WARM_RUNS" \
    --export-json "$OUT/warm.json" --export-markdown "$OUT/warm.md" \
    -n "git ls-remote (one handshake)" "git ls-remote $URL" \
    -n "git fetch (mirror, nothing new)" "git -C $WORK/git-warm fetch -q" \
    -n "driftless fetch (warm cache)" "$FETCH $URL $WORK/dl-warm"

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(git --version), $(hyperfine --version), $(date -u +%Y-%m-%dT%H:%MZ)"
[[ "$OUT" == "$WORK/results" ]] || echo "results in $OUT"
