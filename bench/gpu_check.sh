#!/usr/bin/env bash
# The GPU check: the one script to run when a task is lent a GPU machine. It measures what a CPU cannot,
# inside one 10-minute command, in these steps (all by default, in this order):
#   bench      bench/bench_gpu.py: training images/s, eager and torch.compile, data loading excluded and included
#   mt         the Magnetic Tile GPU recipe (mt-gpu), seed 0: its wall time and test summary
#   notebooks  every notebook in full mode (SAMTL_FAST=0) under nbval, each with its wall time
#   tests      tests/test_gpu.py, whose CUDA tests skip everywhere else
#   ddp        with several GPUs: mt-gpu under torchrun on all of them, and the speed-up over one GPU
#   flatten    (not by default) mt-gpu seed 0 reading the CPU recipe's two views (--normalize flatten --lighting-pad
#              reflect) beside seed 0 as recorded, both at once, each with 4 CPU threads and 4 DataLoader workers
#              (left at their defaults, two runs oversubscribe a 16-core machine and crawl)
#
# The notebooks run all at once, each in its own process with 2 CPU threads, so that the nine fit in one budget;
# the wall time printed for each is therefore an upper bound on what it takes alone.
#
# The steps share a budget of GPU_CHECK_BUDGET seconds (default 540); each also has its own limit (`timeout`),
# so a hung step cannot eat the rest, and a step left with too little time is skipped and said to be.
# Everything printed also goes to $OUT/gpu_check.log when $OUT is set; run folders (last.pt is about 145 MB)
# go to a scratch folder and only their metrics.json, history.json, config.json and curves.png are copied to $OUT.
# On the lent machine (nothing outside it reachable; 64 MiB travel per call) the data travel through a git-ignored
# link, with no copy in the repository: `ln -s "$(cd ../shared && pwd)" shared`, `/shared` added to
# .git/info/exclude, then run `bash bench/gpu_check.sh` carrying shared/data/magnetic_tile (51 MiB) and .whl, and
# `rm shared` afterwards (this is how docs/gpu-check-h200.log was made). The wheels step keeps
# only what the GPU image lacks and leaves out jedi, debugpy and widgetsnbextension, which the kernel and the
# widgets import only when present (5 MiB instead of 19), so data, wheels and the repository fit in one call.
# Settings: SAMTL_DATA_DIR (default: the first of shared/data, ../shared/data, data holding magnetic_tile);
# BENCH_ARGS (default "--steps 30 --warmup 10 --workers 0 8"); MT_ARGS, extra `samtl train` options for mt and
# ddp (default none: the recipe exactly as `samtl train --recipe mt-gpu` runs it, with up to 8 DataLoader workers);
# GPU_CHECK_CPU=1 runs without a GPU, to test this script's plumbing with tiny BENCH_ARGS and MT_ARGS.
# On a bare machine it makes .venv on the machine's own Python packages (its torch stays) and installs
# samtl_lite there; without network, `pip install -e .[dev]` fails and samtl_lite is put on .venv's path alone;
# the notebooks step then installs nbval, ipykernel and ipywidgets from a carried .whl/ (see `wheels`).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [ "${1:-}" = wheels ]; then
    plats=()
    for p in 1 2014 _2_5 _2_17 _2_24 _2_27 _2_28 _2_31 _2_34; do
        plats+=(--platform "manylinux${p}_x86_64")
    done
    python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp "${plats[@]}" \
        -d .whl nbval ipykernel ipywidgets || exit 1
    # the GPU image has these (KINDS.md of the device tool lists its packages); the last four are optional
    for have in attrs coverage iniconfig packaging pluggy psutil pygments pytest python_dateutil typing_extensions \
        jedi parso debugpy widgetsnbextension; do
        rm -f .whl/"$have"-*.whl
    done
    exclude=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$exclude")" && touch "$exclude"
    grep -qx '/.whl/' "$exclude" || echo '/.whl/' >>"$exclude"
    echo "$(find .whl -type f -name "*.whl" | wc -l) wheels, $(du -sh .whl | cut -f1), in .whl/ (git ignores it):" \
        "name .whl in the run's carry"
    exit 0
fi

STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(bench mt tests notebooks ddp)
for s in "${STEPS[@]}"; do
    case $s in
    bench | mt | tests | notebooks | ddp | flatten) ;;
    *) echo "usage: bash bench/gpu_check.sh [bench|mt|tests|notebooks|ddp|flatten ...] | wheels" >&2 && exit 2 ;;
    esac
done

if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    exec > >(tee -a "$OUT/gpu_check.log") 2>&1
    TEE=$!
fi
export PYTHONUNBUFFERED=1
BUDGET=${GPU_CHECK_BUDGET:-540}
BENCH_ARGS=${BENCH_ARGS---steps 30 --warmup 10 --workers 0 8}
MT_ARGS=${MT_ARGS-}
WORK=${TMPDIR:-/tmp}/samtl-gpu-check
PY=.venv/bin/python
SUMMARY=()
FAILURES=0

# step NAME LIMIT CMD...: CMD under `timeout`, at most LIMIT seconds and what is left of the budget;
# prints its outcome and wall time, sets WALL (seconds) and returns CMD's status (124: timed out or skipped).
# The script's own status is 1 when any step failed or timed out.
step() {
    local name=$1 limit=$2 left=$((BUDGET - SECONDS)) rc status t0
    shift 2
    WALL=
    if ((left < 30)); then
        echo "== $name: SKIPPED, ${left}s of the ${BUDGET}s budget left"
        SUMMARY+=("| $name | skipped (budget) | - |")
        return 124
    fi
    ((limit > left)) && limit=$left
    echo "== $name (limit ${limit}s): $*"
    t0=$(date +%s.%N)
    timeout --kill-after=20 "$limit" "$@"
    rc=$?
    WALL=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in 0) status=ok ;; 124 | 137) status="TIMEOUT (${limit}s)" ;; *) status="FAILED (exit $rc)" ;; esac
    echo "== $name: $status in ${WALL}s"
    SUMMARY+=("| $name | $status | $WALL |")
    ((rc == 0)) || FAILURES=$((FAILURES + 1))
    return $rc
}

setup() {
    [ -x "$PY" ] && return 0
    echo "== setup: .venv on $(command -v python3)'s packages, then samtl_lite"
    python3 -m venv --system-site-packages .venv || return 1
    local site pip=(timeout 900 "$PY" -m pip install -q --disable-pip-version-check --retries 0 --timeout 10)
    site=$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    # python3 may itself be a venv (the GPU image's is), whose packages (torch) --system-site-packages does not
    # reach: a .pth line adds them after .venv's own
    python3 -c 'import sysconfig; dirs = {sysconfig.get_path(k) for k in ("purelib", "platlib")}
print("import site;", *(f"site.addsitedir({d!r});" for d in sorted(dirs)))' >"$site/machine-packages.pth"
    local log
    log=$(mktemp)
    if [ -d .whl ]; then  # carried wheels mean an offline machine: the editable install could not build there
        echo "== setup: .whl carried (offline): samtl_lite from this folder, on the machine's packages"
    elif "${pip[@]}" -e ".[dev]" >"$log" 2>&1; then
        return 0
    else
        echo "== setup: pip install -e .[dev] failed ($(grep -m1 -o "ERROR.*" "$log")): samtl_lite from this folder," \
            "on the machine's packages"
    fi
    pwd >"$site/samtl-lite-src.pth"
    "$PY" -c 'import samtl_lite, torch'
}

# notebook_tools: nbval, ipykernel and ipywidgets importable, installed from a carried .whl/ if need be
notebook_tools() {
    local check="import nbval, ipykernel, ipywidgets"
    "$PY" -c "$check" 2>/dev/null && return 0
    # --no-deps: the wheels are only what the machine lacks (see `wheels`), so pip must not resolve the rest
    compgen -G ".whl/*.whl" >/dev/null && timeout 300 "$PY" -m pip install -q --disable-pip-version-check \
        --no-index --no-deps .whl/*.whl && "$PY" -c "$check"
}

echo "== gpu_check $(date -u +%FT%TZ), steps: ${STEPS[*]}, budget ${BUDGET}s"
GPUS=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L; then
    GPUS=$(nvidia-smi -L | grep -c '^GPU ')
fi
if ((GPUS == 0)) && [ "${GPU_CHECK_CPU:-0}" != 1 ]; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi -L lists none); GPU_CHECK_CPU=1 tests the script on a CPU"
    exit 2
fi
setup || { echo "gpu_check: could not set up .venv"; exit 1; }
"$PY" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
                                  f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s) visible")'

if [ -z "${SAMTL_DATA_DIR:-}" ]; then
    for d in shared/data ../shared/data data; do
        [ -d "$d/magnetic_tile" ] && SAMTL_DATA_DIR=$d && break
    done
fi
if [ -n "${SAMTL_DATA_DIR:-}" ] && [ -d "$SAMTL_DATA_DIR/magnetic_tile" ]; then
    SAMTL_DATA_DIR=$(cd "$SAMTL_DATA_DIR" && pwd)  # absolute: nbval runs each notebook in notebooks/
    export SAMTL_DATA_DIR
    echo "== data: $SAMTL_DATA_DIR"
else
    echo "== data: no magnetic_tile under SAMTL_DATA_DIR, shared/data, ../shared/data or data: mt and ddp are skipped"
    unset SAMTL_DATA_DIR
fi
rm -rf "$WORK" && mkdir -p "$WORK"

# train_run NAME LIMIT LAUNCHER OPTION...: `samtl train OPTION...` under LAUNCHER (the venv's python, or torchrun's
# words) into $WORK/NAME, then one line of its test summary; its small files and log go to $OUT
train_run() {
    local name=$1 limit=$2 launcher=$3 rc f
    shift 3
    # shellcheck disable=SC2086  # the launcher holds several words
    step "$name" "$limit" $launcher -m samtl_lite.cli train "$@" --out "$WORK/$name" --no-progress
    rc=$?
    if [ -f "$WORK/$name/metrics.json" ]; then  # runs print recall at 1% and 5%; the GPU target is set at 2%
        "$PY" -c 'import json, sys
run, name = sys.argv[1:]
t = json.load(open(f"{run}/metrics.json"))["test"]
kept = [h["epoch"] for h in json.load(open(f"{run}/history.json")) if h.get("kept")]
vis = ", visible AP %.3f" % t["ap_visible"] if "ap_visible" in t else ""
print("== %s: test AP %.3f%s, recall %.3f / %.3f / %.3f at 1%% / 2%% / 5%% false alarms, %d missed / %d false alarms; "
      "masks Seg_Recall %.3f, Seg_Accuracy %.3f, Seg_mIoU %.3f, pooled mIoU %.3f; kept epoch %s"
      % (name, t["ap"], vis, t["recall_at_fpr_1pct"], t["recall_at_fpr_2pct"], t["recall_at_fpr_5pct"], t["fn"],
         t["fp"], t["seg_recall"], t["seg_accuracy"], t["seg_miou"], t["pixel_miou"], kept[-1] if kept else None))' "$WORK/$name" "$name"
    fi
    for f in metrics.json history.json config.json curves.png; do  # history.json: every finished epoch, also of a
        if [ -n "${OUT:-}" ] && [ -f "$WORK/$name/$f" ]; then cp "$WORK/$name/$f" "$OUT/$name-$f"; fi  # stopped run
    done
    return $rc
}

# mt_run NAME LIMIT LAUNCHER [OPTION...]: `samtl train --recipe mt-gpu`, seed 0 unless an option names another
mt_run() {
    if [ -z "${SAMTL_DATA_DIR:-}" ]; then
        echo "== $1: SKIPPED, no Magnetic Tile data"
        SUMMARY+=("| $1 | skipped (no data) | - |")
        return 1
    fi
    # shellcheck disable=SC2086  # MT_ARGS holds several options
    train_run "$1" "$2" "$3" --recipe mt-gpu --seed 0 "${@:4}" $MT_ARGS
}

# together NAME FUNCTION ARG...: FUNCTION ARG... in the background, its output in $WORK/NAME.log; `gather` waits
PIDS=()
LOGS=()
together() {
    local log="$WORK/$1.log"
    shift
    ("$@" >"$log" 2>&1; echo "${SUMMARY[-1]}" >"$log.row") &
    PIDS+=($!)
    LOGS+=("$log")
}

# gather: wait for what `together` started (not a bare `wait`: that would also wait for the log's tee), then print
# each one's last lines (a failure's whole log) and add its row to the summary; the logs also go to $OUT
gather() {
    local log row
    wait "${PIDS[@]}"
    for log in "${LOGS[@]}"; do
        row=$(cat "$log.row" 2>/dev/null) || row="| $(basename "$log" .log) | FAILED (no result) | - |"
        if [[ $row == *"| ok |"* ]]; then tail -n 4 "$log"; else cat "$log"; fi
        if [ -n "${OUT:-}" ]; then cp "$log" "$OUT/"; fi
        SUMMARY+=("$row")
        [[ $row == *FAILED* || $row == *TIMEOUT* ]] && FAILURES=$((FAILURES + 1))
    done
    PIDS=()
    LOGS=()
}

MT_WALL=
for s in "${STEPS[@]}"; do
    case $s in
    bench)
        # shellcheck disable=SC2086  # BENCH_ARGS holds several options
        step "bench_gpu.py --compile" 240 "$PY" bench/bench_gpu.py --compile $BENCH_ARGS
        ;;
    mt)
        mt_run mt-gpu 360 "$PY" && MT_WALL=$WALL
        ;;
    tests)
        step tests/test_gpu.py 120 "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py
        ;;
    notebooks)
        if ! notebook_tools; then
            echo "== notebooks: SKIPPED, nbval, ipykernel or ipywidgets is missing (offline: run" \
                "\`bash bench/gpu_check.sh wheels\` where there is network and carry .whl)"
            SUMMARY+=("| notebooks | skipped (no nbval) | - |")
            continue
        fi
        echo "== notebooks: all at once, each with 2 CPU threads and its own log"
        for nb in notebooks/[0-9]*.ipynb; do
            together "$(basename "$nb" .ipynb)" step "$nb" 300 env SAMTL_FAST=0 OMP_NUM_THREADS=2 "$PY" -m pytest -q \
                -p no:cacheprovider --nbval-lax --nbval-current-env "$nb"
        done
        gather
        ;;
    ddp)
        if ((GPUS < 2)); then
            echo "== ddp: SKIPPED, $GPUS GPU here"
            SUMMARY+=("| ddp | skipped ($GPUS GPU) | - |")
            continue
        fi
        if [[ " ${STEPS[*]} " != *" mt "* ]]; then  # the one-GPU time to compare with
            mt_run mt-gpu 360 "$PY" && MT_WALL=$WALL
        fi
        if mt_run "mt-gpu-ddp$GPUS" 300 "$PY -m torch.distributed.run --standalone --nproc_per_node=$GPUS" \
            && [ -n "$MT_WALL" ]; then
            echo "== ddp: mt-gpu in ${MT_WALL}s on 1 GPU, ${WALL}s on $GPUS: speed-up" \
                "$(awk -v a="$MT_WALL" -v b="$WALL" 'BEGIN { printf "%.2f", a / b }')x"
        fi
        ;;
    flatten)
        echo "== flatten: mt-gpu seed 0 reading the CPU recipe's two views, beside seed 0 as recorded, both at once"
        together mt-gpu-s0 mt_run mt-gpu-s0 360 "$PY" --threads 4 --workers 4
        together mt-gpu-flatten-s0 mt_run mt-gpu-flatten-s0 360 "$PY" --threads 4 --workers 4 --normalize flatten \
            --lighting-pad reflect
        gather
        ;;
    esac
done

echo
echo "| step | result | seconds |"
echo "|---|---|---:|"
printf '%s\n' "${SUMMARY[@]}"
echo "== gpu_check done in ${SECONDS}s, $FAILURES step(s) failed or timed out"
if [ -n "${TEE:-}" ]; then
    exec >&- 2>&-
    wait "$TEE"  # the log is complete before the machine hands $OUT back
fi
((FAILURES == 0))
