#!/usr/bin/env bash
# GPU readiness (issue 14, item 4): time our generators against SDV's on one CUDA GPU, in at most 8 minutes.
#
#     bench/gpu.sh                        # from anywhere; writes bench/results/gpu.json and gpu.md
#     bench/gpu.sh --parts tab_ddpm ddpm  # extra arguments go to bench/gpu.py (see its --help)
#
# Uses the project's venv, --device cuda, and stops the run after 480 s; bench/gpu.py writes each item as it
# finishes, so a run cut short keeps what it measured. Timing only: no quality is scored (bench/suite.py does).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"
if [[ ! -x "$python" ]]; then
    echo "bench/gpu.sh: no Python at $python; create the project's venv first" >&2
    exit 1
fi

cd "$root" || exit 1
# bench/gpu.py checks torch.cuda.is_available() first and exits with one line if there is no GPU
timeout --kill-after=15 480 "$python" bench/gpu.py --device cuda "$@"
status=$?
if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "bench/gpu.sh: stopped after 480 s; what was measured is in bench/results/gpu.json and gpu.md" >&2
elif [[ $status -ne 0 ]]; then
    echo "bench/gpu.sh: bench/gpu.py failed (exit $status), see above; what it measured before is in" \
         "bench/results/gpu.json and gpu.md" >&2
else
    echo "bench/gpu.sh: done; results in $root/bench/results/gpu.json and gpu.md (unless --out said otherwise)"
fi
exit $status
