#!/usr/bin/env bash
# The whole GPU recipe in one call, for a machine that has a GPU, Python with PyTorch and no Rust toolchain:
#
#   benches/gpu_machine.sh BINARY OUTDIR [--quick]
#
# BINARY is a release build of gpu-mnist (stripped is fine). Each step runs under its own time limit and the whole
# under a deadline (330 s, so a lent GPU's 15 minutes hold its start, this run and a rerun); a step that fails or
# times out is recorded and the next one still runs. OUTDIR gets three files, rewritten after every step so that a run
# cut short still leaves them: summary.json (one record per step), summary.md (the same as a table, with the tail of
# each step's output) and results.tar.gz (every step's full output and JSON report). Nothing here needs a network.
#
# --quick runs tiny sizes (a few seconds each, e.g. on lavapipe in CI) and skips PyTorch, with a notice, where it is
# not installed. GPU_MNIST_BACKEND picks the API of the GPU steps (default vulkan); GPU_MACHINE_PYTHON the interpreter
# of the PyTorch twin (default python3).
set -u

usage() { echo "usage: $0 BINARY OUTDIR [--quick]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
bin=$1 out=$2 quick=0
[ $# -eq 3 ] && { [ "$3" = "--quick" ] || usage; quick=1; }
[ -x "$bin" ] || { echo "$bin: not an executable gpu-mnist binary" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
api=${GPU_MNIST_BACKEND:-vulkan}
python=${GPU_MACHINE_PYTHON:-python3}
mkdir -p "$out" || exit 2
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
# Headless Vulkan drivers print a libwayland error without a runtime directory; compute needs none.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work}

started=$(date +%s)
deadline=$((started + 330))
records=()

# step NAME LIMIT_SECONDS COMMAND... — runs COMMAND with its output in NAME.log under min(LIMIT, time left) and
# records the outcome; then rewrites the three output files.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - $(date +%s)))
  local status code t0=$(date +%s)
  if [ "$left" -le 5 ]; then
    status=skipped code=-1
    echo "skipped: the run's deadline has passed" > "$work/$name.log"
  else
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit} s): $*" >&2
    timeout --kill-after=5 "$limit" "$@" > "$work/$name.log" 2>&1
    code=$?
    case $code in
      0) status=ok ;;
      124 | 137) status=timeout ;;
      *) status=failed ;;
    esac
  fi
  local seconds=$(($(date +%s) - t0))
  echo "   $status (exit $code, $seconds s)" >&2
  records+=("$name|$status|$code|$seconds|$limit|$*")
  write_outputs
}

# skip NAME WHY — records a step that was not run.
skip() {
  echo "skipped: $2" > "$work/$1.log"
  echo "== $1: skipped ($2)" >&2
  records+=("$1|skipped|-1|0|0|$2")
  write_outputs
}

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037')"; }

write_outputs() {
  local first=1 r name status code seconds limit cmd
  {
    printf '{\n  "quick": %s,\n  "binary": %s,\n  "api": %s,\n  "started": %s,\n  "seconds": %s,\n  "steps": [\n' \
      "$([ $quick -eq 1 ] && echo true || echo false)" "$(json_string "$bin")" "$(json_string "$api")" \
      "$(json_string "$(date -u -d @"$started" +%Y-%m-%dT%H:%M:%SZ)")" "$(($(date +%s) - started))"
    for r in "${records[@]}"; do
      IFS='|' read -r name status code seconds limit cmd <<< "$r"
      [ $first -eq 1 ] || printf ',\n'
      first=0
      printf '    {"name": %s, "status": %s, "exit_code": %s, "seconds": %s, "limit_s": %s, "command": %s, "log": %s}' \
        "$(json_string "$name")" "$(json_string "$status")" "$code" "$seconds" "$limit" "$(json_string "$cmd")" \
        "$(json_string "$name.log")"
    done
    printf '\n  ]\n}\n'
  } > "$out/summary.json.tmp" && mv "$out/summary.json.tmp" "$out/summary.json"
  {
    echo "# gpu-mnist on a GPU machine ($([ $quick -eq 1 ] && echo quick || echo full) run, API $api)"
    echo
    echo "Started $(date -u -d @"$started" '+%Y-%m-%d %H:%M:%S UTC'), $(($(date +%s) - started)) s so far; binary \`$bin\`."
    echo
    echo "| step | status | exit | seconds | limit | command |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for r in "${records[@]}"; do
      IFS='|' read -r name status code seconds limit cmd <<< "$r"
      echo "| $name | $status | $code | $seconds | $limit | \`$cmd\` |"
    done
    for r in "${records[@]}"; do
      IFS='|' read -r name _ <<< "$r"
      printf '\n## %s\n\n```\n' "$name"
      tail -n 25 "$work/$name.log"
      printf '```\n'
    done
  } > "$out/summary.md.tmp" && mv "$out/summary.md.tmp" "$out/summary.md"
  tar -czf "$out/results.tar.gz.tmp" -C "$work" . 2>/dev/null && mv "$out/results.tar.gz.tmp" "$out/results.tar.gz"
}

if [ $quick -eq 1 ]; then
  model=(--hidden 64 --limit 2000 --epochs 1 --profile-steps 5)
  sizes=(64 256)
  twin=(--limit 2000 --rounds 1 --hidden 64)
  device=cpu
else
  model=(--epochs 1 --profile-steps 50)
  sizes=(1024 4096 8192)
  twin=(--rounds 3)
  device=cuda
fi

step devices 30 "$bin" devices
step check 120 "$bin" check --backend "$api" --failures-only
for b in 64 256; do
  step "bench-b$b" 120 "$bin" bench --backends "$api" --batch-size "$b" "${model[@]}" --profile \
    --json "$work/bench-b$b.json"
done
# The reference plan (one dispatch per op) at batch 64: what the fused step saves on this GPU.
step bench-b64-reference 120 "$bin" bench --backends "$api" --batch-size 64 "${model[@]}" --profile --plan reference \
  --json "$work/bench-b64-reference.json"
for n in "${sizes[@]}"; do
  step "matmul-$n" 90 "$bin" bench --backends "$api" --matmul "$n" --json "$work/matmul-$n.json"
done
if "$python" -c 'import torch' > /dev/null 2>&1; then
  step side-by-side 200 "$python" "$here/side_by_side.py" --binary "$bin" --backend "$api" --device "$device" \
    --python "$python" --embedded --batch-sizes 64,256 "${twin[@]}" --json "$work/side-by-side.json"
else
  echo "PyTorch is not installed here: the side-by-side step against PyTorch is skipped" >&2
  skip side-by-side "PyTorch is not installed ($python -c 'import torch' fails)"
fi

failed=0
for r in "${records[@]}"; do
  IFS='|' read -r _ status _ <<< "$r"
  case $status in failed | timeout) failed=$((failed + 1)) ;; esac
done
echo "$out: summary.json, summary.md, results.tar.gz; $failed step(s) failed or timed out" >&2
[ $failed -eq 0 ]
