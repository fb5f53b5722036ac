#!/usr/bin/env bash
# Set up .venv (created or reused), run every experiment, regenerate the figures and build the report.
#
#   bash run_all.sh [--profile smoke|default|full] [--only NAME...] [--out DIR] [--seed N] [--fresh]
#
# A killed run resumes where it stopped when started again with the same arguments.
set -euo pipefail
cd "$(dirname "$0")"

EXPERIMENTS=(
    part1_simulate_function part1_actual_task
    part2_visualize_optimization part2_gradient_norm part2_minimal_ratio part2_error_surface
    part3_random_labels part3_params_vs_generalization part3_interpolation part3_sensitivity
)
usage="usage: bash run_all.sh [--profile smoke|default|full] [--only NAME...] [--out DIR] [--seed N] [--fresh]"
fail() { echo "run_all.sh: error: $1 ($usage)" >&2; exit 2; }

profile=default out=results seed=0 fresh=() only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || fail "--profile needs a value"; profile="$2"; shift 2 ;;
        --out) [ $# -ge 2 ] || fail "--out needs a folder"; out="$2"; shift 2 ;;
        --seed) [ $# -ge 2 ] || fail "--seed needs a value"; seed="$2"; shift 2 ;;
        --fresh) fresh=(--fresh); shift ;;
        --only) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do only+=("$1"); shift; done
                [ ${#only[@]} -gt 0 ] || fail "--only needs at least one experiment name" ;;
        -h|--help) echo "$usage"; echo "experiments: ${EXPERIMENTS[*]}"; exit 0 ;;
        *) fail "unknown argument '$1'" ;;
    esac
done
case "$profile" in smoke|default|full) ;; *) fail "unknown --profile '$profile'; choose smoke, default or full" ;; esac
[[ "$seed" =~ ^[0-9]+$ ]] || fail "--seed '$seed' is not a non-negative integer"
for name in "${only[@]}"; do
    [[ " ${EXPERIMENTS[*]} " == *" $name "* ]] || fail "unknown experiment '$name' in --only; choose from: ${EXPERIMENTS[*]}"
done

source scripts/ensure_venv.sh

start=$SECONDS
for name in "${EXPERIMENTS[@]}"; do
    [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $name "* ]] || continue
    if [ ! -f "experiments/$name.py" ]; then
        echo "[run_all] $name: not implemented yet, skipped" >&2
        continue
    fi
    echo "[run_all] $name (profile $profile)" >&2
    .venv/bin/python "experiments/$name.py" --profile "$profile" --out "$out" --seed "$seed" "${fresh[@]}"
done
echo "[run_all] regenerating figures from the CSVs" >&2
.venv/bin/python -m hw1.plots "$out" > /dev/null
if [ -f hw1/report.py ]; then
    echo "[run_all] building the report" >&2
    .venv/bin/python -m hw1.report "$out" --link-figures
fi
echo "[run_all] done in $((SECONDS - start)) s; results, figures and report are in $out/" >&2
