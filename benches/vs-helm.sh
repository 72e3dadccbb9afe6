#!/usr/bin/env bash
# Whole-process comparison for README.md's first walkthrough render (the gateway with a public
# key): `ikp render` against `helm template` on a Go-template twin of the gateway chart
# (benches/helm-gateway, which renders the same bytes — checked below before timing).
#
# Reports the mean wall time per process over RUNS runs, the peak RSS (max over 10 runs, from
# /usr/bin/time) and the ratios helm/ikp.
#
# Usage: benches/vs-helm.sh            (env: RUNS=200; HELM=path to helm, default the `helm` on PATH;
#                                       PROFILE=release, PROFILE=dist times the LTO build that the
#                                       Dockerfile ships; IKP=path skips the build)
# Needs Helm 3 (https://helm.sh/docs/intro/install/) and GNU time (/usr/bin/time).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-200}"
if [ -z "${HELM:-}" ]; then
  HELM="$(command -v helm || true)"
fi
if [ -z "$HELM" ] || [ ! -x "$HELM" ]; then
  echo "vs-helm.sh: no helm binary: install Helm 3 and put it on PATH, or set HELM=/path/to/helm" >&2
  exit 2
fi
if [ ! -x /usr/bin/time ]; then
  echo "vs-helm.sh: /usr/bin/time (GNU time) is needed for the peak RSS" >&2
  exit 2
fi
PROFILE="${PROFILE:-release}"
if [ -z "${IKP:-}" ]; then # IKP=path times an already built binary
  (cd "$ROOT" && cargo build --profile "$PROFILE" --quiet --bin ikp)
  IKP="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/ikp"
fi

# The timing runs in a scratch directory: relative IKP= and HELM= paths are taken from here.
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
IKP="$(absolute "$IKP")"
HELM="$(absolute "$HELM")"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/benches/helm-gateway" "$WORK/helm-gateway"
cp "$ROOT/examples/id_ed25519.pub" "$WORK/key.pub"
export HELM_CACHE_HOME="$WORK/.helm/cache" HELM_CONFIG_HOME="$WORK/.helm/config" HELM_DATA_HOME="$WORK/.helm/data"
cd "$WORK"

ikp_cmd=("$IKP" render msoff gateway --namespace myservice --set-file ssh.publicKey=key.pub)
helm_cmd=("$HELM" template msoff ./helm-gateway --namespace myservice --set-file ssh.publicKey=key.pub)

"${ikp_cmd[@]}" | sed 's/managed-by: ikp/managed-by: Helm/' > ikp.out
"${helm_cmd[@]}" > helm.out
if ! cmp -s ikp.out helm.out; then
  echo "outputs differ; not timing" >&2
  diff ikp.out helm.out >&2 || true
  exit 1
fi

mean_us() { # command... -> mean wall time per run in microseconds
  local start end
  "$@" >/dev/null # warm the page cache
  start=$(date +%s%N)
  for _ in $(seq "$RUNS"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(( (end - start) / RUNS / 1000 ))
}

peak_rss_kib() { # command... -> max resident set size over 10 runs, KiB
  local max=0 rss
  for _ in $(seq 10); do
    rss=$( { /usr/bin/time -f '%M' "$@" >/dev/null; } 2>&1 | tail -1 )
    [ "$rss" -gt "$max" ] && max=$rss
  done
  echo "$max"
}

ikp_us=$(mean_us "${ikp_cmd[@]}")
helm_us=$(mean_us "${helm_cmd[@]}")
ikp_rss=$(peak_rss_kib "${ikp_cmd[@]}")
helm_rss=$(peak_rss_kib "${helm_cmd[@]}")

echo "seed gateway example, $RUNS runs each, identical output ($(wc -c < ikp.out) bytes)"
printf '%-26s %12s %14s\n' "" "wall/process" "peak RSS"
printf '%-26s %9d us %10d KiB\n' "ikp render" "$ikp_us" "$ikp_rss"
printf '%-26s %9d us %10d KiB\n' "helm template ($("$HELM" version --short))" "$helm_us" "$helm_rss"
awk -v i="$ikp_us" -v h="$helm_us" -v ir="$ikp_rss" -v hr="$helm_rss" 'BEGIN {
  printf "wall time: helm/ikp = %.1fx\n", h / i
  printf "peak RSS:  ikp/helm = 1/%.1f\n", hr / ir
}'
