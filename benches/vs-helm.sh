#!/usr/bin/env bash
# Whole-process comparison of `ikp render` against `helm template`, for the seed examples of
# golden/ (the gateway with a public key; the bastion of README.md's walkthrough): Helm renders
# Go-template twins of the built-in charts (benches/helm-gateway, benches/helm-bastion), and the two
# outputs are checked to be the same bytes before anything is timed.
#
# For each chart, PAIRS pairs of processes run back to back, ikp first in one pair and helm first in
# the next. Each process is started with posix_spawn and timed from spawn to reaped exit (the same
# small cost of spawning is in both figures). ikp runs with IKP_TIMINGS set, so the medians of its
# phases come from the same runs; "process start+exit" is the median wall minus the median `main`.
# Peak RSS comes from a second pass of PAIRS alternating pairs under GNU time (`/usr/bin/time -f %M`).
# One Markdown table per chart: medians and p90 of the wall time, median peak RSS, ratios helm/ikp.
#
# Usage: benches/vs-helm.sh   env: PAIRS=100 (RUNS is an older name for it); CHARTS="gateway bastion";
#                                  HELM=path to helm (default the `helm` on PATH); IKP=path to an ikp
#                                  binary (skips the build); PROFILE=release (PROFILE=dist: with
#                                  whole-program optimisation); TARGET= (the host's; TARGET=
#                                  x86_64-unknown-linux-musl times the static build the Dockerfile
#                                  ships, which needs `rustup target add x86_64-unknown-linux-musl`
#                                  and a musl C compiler for ring, Debian's musl-tools)
# Needs Helm 3 (https://helm.sh/docs/intro/install/), GNU time (/usr/bin/time) and python3.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PAIRS="${PAIRS:-${RUNS:-100}}"
CHARTS="${CHARTS:-gateway bastion}"
if ! [[ "$PAIRS" =~ ^[1-9][0-9]*$ ]]; then
  echo "vs-helm.sh: PAIRS=$PAIRS: expected a whole number of pairs, at least 1" >&2
  exit 2
fi
for chart in $CHARTS; do
  if [ "$chart" != gateway ] && [ "$chart" != bastion ]; then
    echo "vs-helm.sh: CHARTS: unknown chart '$chart'; expected gateway and/or bastion" >&2
    exit 2
  fi
done
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
if ! command -v python3 >/dev/null; then
  echo "vs-helm.sh: python3 is needed to time the processes" >&2
  exit 2
fi
PROFILE="${PROFILE:-release}"
if [ -z "${IKP:-}" ]; then # IKP=path times an already built binary
  # cargo puts a build for a named target under target/<TARGET>/<PROFILE>.
  target_args=() out_dir="$PROFILE"
  if [ -n "${TARGET:-}" ]; then
    target_args=(--target "$TARGET") out_dir="$TARGET/$PROFILE"
  fi
  (cd "$ROOT" && cargo build --profile "$PROFILE" "${target_args[@]}" --quiet --bin ikp)
  IKP="${CARGO_TARGET_DIR:-$ROOT/target}/$out_dir/ikp"
fi
if [ ! -x "$IKP" ]; then
  echo "vs-helm.sh: IKP=$IKP is not an executable" >&2
  exit 2
fi

# The timing runs in a scratch directory: relative IKP= and HELM= paths are taken from here.
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
IKP="$(absolute "$IKP")"
HELM="$(absolute "$HELM")"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/benches/helm-gateway" "$WORK/helm-gateway"
cp -r "$ROOT/benches/helm-bastion" "$WORK/helm-bastion"
cp "$ROOT/examples/id_ed25519.pub" "$WORK/key.pub"
cp "$ROOT/examples/id_ed25519.b64" "$WORK/key.b64"
export HELM_CACHE_HOME="$WORK/.helm/cache" HELM_CONFIG_HOME="$WORK/.helm/config" HELM_DATA_HOME="$WORK/.helm/data"
unset IKP_TIMINGS
cd "$WORK"
HELM_VERSION="$("$HELM" version --short)"

# The flags after `<release> <chart>`: those of golden/seed-gateway and golden/seed-bastion (without
# ikp's --redact-secrets, which Helm does not have).
flags() {
  case "$1" in
  gateway) echo "--namespace myservice --set-file ssh.publicKey=key.pub" ;;
  bastion)
    echo "--namespace myservice --set tunnel.gateway.host=131.154.98.96" \
      "--set-file tunnel.gateway.ssh.privateKey=key.b64 --set tunnel.service.gatewayPort=8181" \
      "--set tunnel.service.targetHost=mlaas-inference-service-hep-predictor-00001.mlaas.svc.cluster.local" \
      "--set tunnel.service.targetPort=80"
    ;;
  esac
}

for chart in $CHARTS; do
  read -r -a chart_flags <<<"$(flags "$chart")"
  ikp_cmd=("$IKP" render msoff "$chart" "${chart_flags[@]}")
  helm_cmd=("$HELM" template msoff "./helm-$chart" "${chart_flags[@]}")
  "${ikp_cmd[@]}" | sed 's/managed-by: ikp/managed-by: Helm/' >"ikp-$chart.out"
  "${helm_cmd[@]}" >"helm-$chart.out"
  if ! cmp -s "ikp-$chart.out" "helm-$chart.out"; then
    echo "$chart: outputs differ; not timing" >&2
    diff "ikp-$chart.out" "helm-$chart.out" >&2 || true
    exit 1
  fi
  python3 - "$chart" "$PAIRS" "$HELM_VERSION" "$(wc -c <"ikp-$chart.out")" "$IKP" "$HELM" \
    "${chart_flags[@]}" <<'PY'
import os, shutil, sys, time

chart, pairs, helm_version, size, ikp, helm = sys.argv[1:7]
pairs, flags = int(pairs), sys.argv[7:]
# The same command lines as the output check above.
ikp_cmd = [ikp, "render", "msoff", chart] + flags
helm_cmd = [helm, "template", "msoff", f"./helm-{chart}"] + flags


def spawn_wait(argv, env, stderr_path):
    """Runs argv with stdout on /dev/null, stderr to stderr_path; returns (ns from spawn to reaped
    exit, stderr text). The clock is read right around posix_spawn and waitpid."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter_ns() - start
    with open(stderr_path) as f:
        stderr = f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"vs-helm.sh: {argv[0]} failed: {stderr.strip()}")
    return elapsed, stderr


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def p90(values):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]


plain_env = dict(os.environ)
ikp_env = dict(os.environ, IKP_TIMINGS="1")
stderr_path = os.path.abspath("stderr.txt")

# Wall time: warm the page cache, then PAIRS pairs, alternating which process goes first.
for _ in range(3):
    spawn_wait(ikp_cmd, ikp_env, stderr_path)
    spawn_wait(helm_cmd, plain_env, stderr_path)
walls = {"ikp": [], "helm": []}
phases = {}
for pair in range(pairs):
    order = ["ikp", "helm"] if pair % 2 == 0 else ["helm", "ikp"]
    for who in order:
        if who == "ikp":
            ns, stderr = spawn_wait(ikp_cmd, ikp_env, stderr_path)
            # An ikp built before IKP_TIMINGS existed prints no line: no phase table then.
            line = [l for l in stderr.splitlines() if l.startswith("ikp timings: ")]
            for field in line[0].removeprefix("ikp timings: ").split() if line else []:
                name, value = field.split("=")
                phases.setdefault(name, []).append(int(value.removesuffix("us")))
        else:
            ns, _ = spawn_wait(helm_cmd, plain_env, stderr_path)
        walls[who].append(ns / 1000)

# The timer's floor: spawning and reaping a process that does nothing.
true_path = shutil.which("true")
floor = median([spawn_wait([true_path], plain_env, stderr_path)[0] / 1000 for _ in range(pairs)])

# Peak RSS: GNU time around each process, PAIRS alternating pairs.
rss = {"ikp": [], "helm": []}
rss_file = os.path.abspath("rss.txt")
for pair in range(pairs):
    order = ["ikp", "helm"] if pair % 2 == 0 else ["helm", "ikp"]
    for who in order:
        argv = ikp_cmd if who == "ikp" else helm_cmd
        spawn_wait(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv, plain_env, stderr_path)
        with open(rss_file) as f:
            rss[who].append(int(f.read().split()[-1]))


def ms(us):
    return f"{us / 1000:.2f} ms"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


wall_i, wall_h = median(walls["ikp"]), median(walls["helm"])
p90_i, p90_h = p90(walls["ikp"]), p90(walls["helm"])
rss_i, rss_h = median(rss["ikp"]), median(rss["helm"])
print(f"\n{chart}: seed example, {pairs} pairs (alternating which runs first), identical output ({size} bytes)\n")
print(f"| figure | ikp render | helm template ({helm_version}) | helm/ikp |")
print("| --- | --- | --- | --- |")
print(f"| wall per process, median | {ms(wall_i)} | {ms(wall_h)} | {wall_h / wall_i:.1f}x |")
print(f"| wall per process, p90 | {ms(p90_i)} | {ms(p90_h)} | {p90_h / p90_i:.1f}x |")
print(f"| peak RSS, median | {mib(rss_i)} | {mib(rss_h)} | {rss_h / rss_i:.1f}x |")
print(f"\n(the timer's floor, `{true_path}` under the same timer: median {ms(floor)} per process)")
if len(phases.get("main", [])) != pairs:
    print(f"\n{chart}: no phase breakdown: this ikp does not print an `ikp timings:` line for IKP_TIMINGS")
    sys.exit(0)
print(f"\n{chart}: where ikp's time goes (medians over the same {pairs} runs, IKP_TIMINGS)\n")
print("| phase | median |")
print("| --- | --- |")
main = median(phases["main"])
print(f"| process start+exit (median wall - median main) | {ms(wall_i - main)} |")
for name, values in phases.items():
    if name != "main":
        print(f"| {name} | {median(values) / 1000:.3f} ms |")
print(f"| main (from its first line to the timings line) | {ms(main)} |")
PY
done
