#!/usr/bin/env bash
# Set up .venv (created or reused), run every experiment, regenerate the figures and build the report.
#
#   bash run_all.sh [--profile smoke|default|full] [--only NAME...] [--out DIR] [--seed N] [--fresh]
#                   [--dataset NAME] [--data-dir DIR] [--max-memory SIZE] [--compare DIR]
#
# The experiments are the scripts experiments/part*.py, in their order, run in one Python process
# (hw1/lab/runner.py: TensorFlow starts once; a failing experiment is reported and the next one runs, and the
# exit code is then non-zero). --dataset and --data-dir go to the scripts that take a dataset. A killed run resumes where it stopped when started again with the
# same arguments. The report (DIR/REPORT.md and the self-contained DIR/report.html) is written last;
# --compare OTHER sets its conclusions against the run in OTHER (e.g. a full-size run against results).
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")"
repo="$PWD"

mapfile -t EXPERIMENTS < <(cd experiments && ls part*.py | sed 's/\.py$//')
usage="usage: bash run_all.sh [--profile smoke|default|full] [--only NAME...] [--out DIR] [--seed N] [--fresh] [--dataset NAME] [--data-dir DIR] [--max-memory SIZE] [--compare DIR]"
fail() { echo "run_all.sh: error: $1 ($usage)" >&2; exit 2; }

profile=default out=results seed=0 fresh=() only=() data=() compare=() memory=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || fail "--profile needs a value"; profile="$2"; shift 2 ;;
        --out) [ $# -ge 2 ] || fail "--out needs a folder"; out="$2"; shift 2 ;;
        --seed) [ $# -ge 2 ] || fail "--seed needs a value"; seed="$2"; shift 2 ;;
        --dataset) [ $# -ge 2 ] || fail "--dataset needs a value"; data+=(--dataset "$2"); shift 2 ;;
        --data-dir) [ $# -ge 2 ] || fail "--data-dir needs a folder"
                    case "$2" in /*) dir="$2" ;; *) dir="$caller/$2" ;; esac
                    data+=(--data-dir "$dir"); shift 2 ;;
        --compare) [ $# -ge 2 ] || fail "--compare needs a folder"
                   case "$2" in /*) dir="$2" ;; *) dir="$caller/$2" ;; esac
                   [ -d "$dir" ] || fail "--compare '$2' is not a folder"
                   compare=(--compare "$dir"); shift 2 ;;
        --fresh) fresh=(--fresh); shift ;;
        --max-memory) [ $# -ge 2 ] || fail "--max-memory needs a size, e.g. 4G"; memory=(--max-memory "$2"); shift 2 ;;
        --only) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do only+=("$1"); shift; done
                [ ${#only[@]} -gt 0 ] || fail "--only needs at least one experiment name" ;;
        -h|--help) echo "$usage"; echo "experiments: ${EXPERIMENTS[*]}"; exit 0 ;;
        *) fail "unknown argument '$1'" ;;
    esac
done
case "$profile" in smoke|default|full) ;; *) fail "unknown --profile '$profile'; choose smoke, default or full" ;; esac
[[ "$seed" =~ ^[0-9]+$ ]] && [ "${#seed}" -le 7 ] && [ "$seed" -le 4000000 ] \
    || fail "--seed '$seed' is not an integer from 0 to 4,000,000"
for name in "${only[@]}"; do
    [[ " ${EXPERIMENTS[*]} " == *" $name "* ]] || fail "unknown experiment '$name' in --only; choose from: ${EXPERIMENTS[*]}"
done
case "$out" in /*) ;; *) out="$caller/$out" ;; esac  # relative to where the command was given

source scripts/ensure_venv.sh

start=$SECONDS
selected=()
for name in "${EXPERIMENTS[@]}"; do
    [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $name "* ]] || continue
    selected+=("$name")
done
# one Python process for all of them: TensorFlow starts once (hw1/lab/runner.py; each script still runs as alone)
status=0
.venv/bin/python -m hw1.lab.runner --profile "$profile" --out "$out" --seed "$seed" "${fresh[@]}" "${data[@]}" "${memory[@]}" \
    -- "${selected[@]}" || status=$?
echo "[run_all] building the report" >&2
.venv/bin/python -m hw1.report "$out" "${compare[@]}" || status=$?
echo "[run_all] done in $((SECONDS - start)) s; results, figures and report are in $out/ (open $out/report.html)" >&2
exit $status
