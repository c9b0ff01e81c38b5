#!/usr/bin/env bash
# One lane of the training campaign (docs/results.md): trains its runs one
# after another, each until the step count given, resuming a run folder that
# already exists; single-threaded at low priority, so two lanes share the two
# cores and interactive work keeps its speed. Run folders live outside the
# checkout, in $SPIKEVAE_RUNS (default ~/spikevae-runs), with a log per run.
#
#   scripts/campaign-lane.sh [--bin DIR] "NAME|MAX_STEPS|ARGS FOR A NEW RUN[|ARGS ON RESUME]" ...
#
# ARGS ON RESUME are added when the run folder exists (for example --epochs 30
# to take a classifier run set for 15 epochs further; spikevae train --resume
# accepts --epochs, --lr and --max-minutes). An optional fifth field sets that
# item's thread count ("NAME|STEPS|ARGS|RESUME ARGS|2", for a run that should
# have both cores once the other lane is done; default $SPIKEVAE_THREADS or
# 1). The thread count changes no bit of a run, only its speed.
#
# --bin DIR runs the spikevae built in DIR (a frozen copy of a checkout, so
# rebuilding the checkout never touches a running trainer); default: this
# checkout. Example (lane A of docs/results.md):
#   scripts/campaign-lane.sh "fsvae-mnist|7200|--model fsvae --dataset mnist" \
#     "fsvae-taid-mnist|2400|--model fsvae --decoding taid --dataset mnist"
set -u
bin="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" = "--bin" ]; then bin="$2"; shift 2; fi
runs="${SPIKEVAE_RUNS:-$HOME/spikevae-runs}"
mkdir -p "$runs"
export SPIKEVAE_THREADS="${SPIKEVAE_THREADS:-1}"
for item in "$@"; do
  IFS='|' read -r name steps args resume_args threads <<<"$item"
  threads="${threads:-$SPIKEVAE_THREADS}"
  dir="$runs/$name"
  if [ -f "$dir/config.json" ]; then read -r -a more <<<"$resume_args"; cmd=(train --resume "$dir" "${more[@]}" --max-steps "$steps")
  else read -r -a extra <<<"$args"; cmd=(train "${extra[@]}" --checkpoint-minutes 5 --max-steps "$steps" --out "$dir"); fi
  echo "$(date -u +%FT%TZ) lane: SPIKEVAE_THREADS=$threads spikevae ${cmd[*]}" >>"$runs/$name.log"
  SPIKEVAE_THREADS="$threads" nice -n 10 node "$bin/dist/src/cli/main.js" "${cmd[@]}" >>"$runs/$name.log" 2>&1
  rc=$?
  echo "$(date -u +%FT%TZ) lane: exit $rc" >>"$runs/$name.log"
  [ $rc -eq 0 ] || exit $rc
done
