#!/usr/bin/env bash
# The sync engine end to end (issue 8), as a user runs it: the release `driftless` binary
# syncing into the sandbox cluster (`driftless sandbox`, its own process, workloads marked
# ready at once) from a local Git repository whose commits are SSH-signed, through every gate
# (signature, the bundled no-latest-tag and resources-required policies), plan, apply, health.
#
#   bench/engine-bench.sh            # RUNS=10 no-change resyncs per case
#
# Cases:
#   big:   one app of 1,000 objects (1 Namespace, 333 ConfigMaps, 333 Deployments,
#          333 Services): first sync, then no-change resyncs (hyperfine).
#   fleet: 200 apps x 20 objects (1 Namespace, 7 ConfigMaps, 6 Deployments, 6 Services each)
#          in one repository, one `driftless sync -f DIR --parallel P` process: first sync,
#          then no-change resyncs (hyperfine).
# Peak RSS of each first sync and one resync by /usr/bin/time. Results (hyperfine JSON and
# Markdown, time's output) go to $OUT (default: a temp directory, printed at the end).
# Honours CARGO_TARGET_DIR. Needs git, ssh-keygen, hyperfine, /usr/bin/time, cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
PARALLEL=${PARALLEL:-8}

for tool in git ssh-keygen hyperfine cargo /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "engine-bench: $tool is not installed" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/driftless-engine-bench.XXXXXX")
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
SANDBOX_PID=
cleanup() {
    if [[ -n "$SANDBOX_PID" ]]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    if [[ "${KEEP:-0}" != 1 ]]; then
        if [[ "$OUT" == "$WORK/results" ]]; then
            echo "results (about to be removed with $WORK):"; cat "$OUT"/*.md "$OUT"/*.time 2>/dev/null || true
        fi
        chmod -R u+w "$WORK" 2>/dev/null || true
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

echo "== build (release)"
cargo build --release --locked -p driftless
BIN=${CARGO_TARGET_DIR:-target}/release/driftless
BIN=$(realpath "$BIN")

echo "== repository"
REPO=$WORK/repo
mkdir -p "$REPO/policies/lib" "$REPO/policies/no_latest_tag" "$REPO/policies/resources_required"
cp policies/lib/kubernetes.rego "$REPO/policies/lib/"
cp policies/no_latest_tag/policy.rego "$REPO/policies/no_latest_tag/"
cp policies/resources_required/policy.rego "$REPO/policies/resources_required/"

# app NAME COUNT: COUNT objects in apps/NAME, namespace NAME, one file per kind.
app() {
    local name=$1 count=$2 dir=$REPO/apps/$1 i
    mkdir -p "$dir"
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$name" >"$dir/namespace.yaml"
    : >"$dir/configmaps.yaml"; : >"$dir/deployments.yaml"; : >"$dir/services.yaml"
    for ((i = 1; i < count; i++)); do
        case $((i % 3)) in
        1) printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d}\ndata: {index: "%d", mode: production}\n' \
            "$i" "$i" >>"$dir/configmaps.yaml" ;;
        2) printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web-%d, labels: {app: web-%d}}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web-%d}}\n  template:\n    metadata: {labels: {app: web-%d}}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web:1.%d\n        resources:\n          requests: {cpu: 10m, memory: 16Mi}\n          limits: {memory: 32Mi}\n' \
            "$i" "$i" "$i" "$i" "$i" >>"$dir/deployments.yaml" ;;
        0) printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: web-%d}\nspec:\n  selector: {app: web-%d}\n  ports: [{port: 80}]\n' \
            "$i" "$i" >>"$dir/services.yaml" ;;
        esac
    done
}
app big 1000
for i in $(seq -w 0 199); do app "a$i" 20; done

ssh-keygen -q -t ed25519 -N "" -C bench@example.com -f "$WORK/key"
SIGNERS="bench@example.com $(cut -d' ' -f1,2 "$WORK/key.pub")"
git_() { git -C "$REPO" -c user.name=Bench -c user.email=bench@example.com -c gpg.format=ssh \
    -c "user.signingkey=$WORK/key" "$@"; }
git_ init -q -b main
git_ add -A
git_ commit -q -S -m "1,000 + 200 x 20 objects"

# application NAME: the Application of apps/NAME.
application() {
    cat <<EOF
apiVersion: driftless.dev/v1alpha1
kind: Application
metadata: {name: $1}
spec:
  source: {repoURL: "file://$REPO", revision: main, path: apps/$1}
  verify:
    mode: enforce
    trust:
    - ssh: {allowedSigners: "$SIGNERS"}
  policy:
    sources: [{path: policies}]
  destination: {namespace: $1}
  sync:
    automated: {prune: true, selfHeal: true}
  health: {timeout: 2m}
EOF
}
application big >"$WORK/big.yaml"
mkdir -p "$WORK/fleet"
for i in $(seq -w 0 199); do application "a$i" >"$WORK/fleet/a$i.yaml"; done

echo "== sandbox"
"$BIN" sandbox --port 0 --ready-after 1ms --kubeconfig-out "$WORK/kubeconfig" >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
SANDBOX_PID=$!
for _ in $(seq 100); do grep -q '^ready ' "$WORK/sandbox.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready ' "$WORK/sandbox.out" || { echo "sandbox did not start"; cat "$WORK/sandbox.err"; exit 1; }

SYNC="$BIN sync --kubeconfig $WORK/kubeconfig --cache-dir $WORK/cache"
measure_first() { # NAME ARGS...: one timed first sync with its peak RSS
    local name=$1; shift
    echo "== $name: first sync"
    /usr/bin/time -v -o "$OUT/$name-first.time" $SYNC "$@" >"$OUT/$name-first.out" 2>"$OUT/$name-first.err" \
        || { cat "$OUT/$name-first.err"; exit 1; }
    grep -E "Elapsed|Maximum resident" "$OUT/$name-first.time"
    tail -3 "$OUT/$name-first.err"
}
measure_resync() { # NAME ARGS...: hyperfine no-change resyncs, then one with its peak RSS
    local name=$1; shift
    echo "== $name: no-change resync"
    hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/$name-resync.json" --export-markdown "$OUT/$name-resync.md" \
        -n "$name no-change resync" "$SYNC $*"
    # One more, its records (with per-stage timings) kept as JSON.
    /usr/bin/time -v -o "$OUT/$name-resync.time" $SYNC "$@" --output json >"$OUT/$name-resync.json-records" 2>"$OUT/$name-resync.out"
    grep -E "Elapsed|Maximum resident" "$OUT/$name-resync.time"
    if grep -v '"outcome":"unchanged"' "$OUT/$name-resync.json-records" | grep -q .; then
        echo "$name: a resync was not unchanged"; exit 1
    fi
}

measure_first big -f "$WORK/big.yaml"
measure_resync big -f "$WORK/big.yaml"
measure_first fleet -f "$WORK/fleet" --parallel "$PARALLEL"
measure_resync fleet -f "$WORK/fleet" --parallel "$PARALLEL"

echo "== done; results in $OUT"
