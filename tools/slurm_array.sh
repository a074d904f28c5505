#!/usr/bin/env bash
# A Slurm job array that splits one folder over N GPUs: each array task runs gpen on its
# own share of the files (--shard K/N, a share fixed by each file's name, so the tasks
# never need to talk to each other) and skips what an earlier, interrupted run finished
# (--skip-existing; outputs are written whole or not at all). Rerunning the same array
# after a failure or a preemption does only what is left.
#
#   sbatch --array=0-3 tools/slurm_array.sh enhance -m models/gpen-bfr-512.safetensors \
#       -i photos/ -o restored/
#
# Everything after the script's name is gpen's command line; the script adds --shard and
# --skip-existing. GPEN_BIN names the binary (default: build/gpen beside this script).
# Outside Slurm (a test, or a dry run) set SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.
#SBATCH --job-name=gpen
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --output=gpen-%A_%a.log
#SBATCH --requeue
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: sbatch --array=0-(N-1) $0 enhance|upscale FLAGS..." >&2; exit 2; }
k=${SLURM_ARRAY_TASK_ID:?"not in a Slurm job array (SLURM_ARRAY_TASK_ID is unset)"}
# Slurm 21.08+ sets SLURM_ARRAY_TASK_COUNT; older ones give the range.
n=${SLURM_ARRAY_TASK_COUNT:-$((${SLURM_ARRAY_TASK_MAX:?} - ${SLURM_ARRAY_TASK_MIN:-0} + 1))}
k=$((k - ${SLURM_ARRAY_TASK_MIN:-0}))
bin=${GPEN_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/gpen}
exec "$bin" "$@" --shard "$k/$n" --skip-existing
