#!/bin/bash
# Multi-node training of one model with torchrun under SLURM (c10d rendezvous).
#
#   sbatch --nodes 2 scripts/slurm_train.sh --model wae_resnet --dataset celeba --epochs 100 \
#          --out runs/thesis/wae_resnet
#   sbatch --nodes 2 scripts/slurm_train.sh --out runs/thesis/wae_resnet --resume   # continue
#
# One task per node; each task starts torchrun, which starts GPUS_PER_NODE ranks on its node
# and meets the other nodes at the rendezvous endpoint (the first node of the allocation).
# Every argument after the script name goes to `python -m waelib.train` unchanged. The global
# batch (--batch-size, thesis 100) is split evenly over all ranks, so it must be divisible by
# nodes x GPUs per node. The run folder (--out) must be on a file system every node sees: rank 0
# writes config.json, log.jsonl and checkpoint.pt there, and --resume reads them back. On
# SIGTERM (scancel, or the time limit with --signal below) the run checkpoints and stops;
# resubmit with --resume to continue bit for bit.
#
# Site-specific lines (partition, account, modules, the virtual environment) are marked SITE.
#SBATCH --job-name=waelib-train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=24:00:00
#SBATCH --signal=TERM@300
#SBATCH --output=slurm-%x-%j.out
##SBATCH --partition=gpu            # SITE
##SBATCH --account=my_account       # SITE

set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$REPO"
# module load cuda/12 python/3.11   # SITE
PY=${PY:-$REPO/.venv/bin/python}   # SITE: the environment with waelib installed

GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-4}}
NNODES=${SLURM_JOB_NUM_NODES:-1}
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
RDZV_PORT=${RDZV_PORT:-29500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS_PER_NODE ))}
# NCCL over the cluster's fast network: set NCCL_SOCKET_IFNAME / NCCL_IB_HCA here if needed. SITE

echo "[slurm_train] job $SLURM_JOB_ID: $NNODES node(s) x $GPUS_PER_NODE GPU(s), rendezvous $HEAD_NODE:$RDZV_PORT"
echo "[slurm_train] python -m waelib.train $*"

# srun starts one torchrun per node; `exec` lets SLURM's SIGTERM reach torchrun, which passes
# it on to the ranks (waelib.train checkpoints and stops on SIGTERM).
srun --kill-on-bad-exit=1 bash -c "exec $PY -m torch.distributed.run \
    --nnodes $NNODES \
    --nproc_per_node $GPUS_PER_NODE \
    --rdzv_id $SLURM_JOB_ID \
    --rdzv_backend c10d \
    --rdzv_endpoint $HEAD_NODE:$RDZV_PORT \
    --max_restarts 0 \
    -m waelib.train $(printf '%q ' "$@")"
