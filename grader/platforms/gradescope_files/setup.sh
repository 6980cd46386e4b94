#!/usr/bin/env bash
# nngrade: Gradescope's setup.sh. Gradescope runs it once, as root, while it builds the
# autograder's image, with this zip unpacked in /autograder/source. Based on Gradescope's
# autograder specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/:
# setup.sh and run_autograder at the zip's root; apt on its Ubuntu images), its base-image page
# (the default image is Ubuntu 22.04: Python 3.10, pip without PEP 668's "externally managed"
# refusal) and its best practices (run the student's code as a non-root user; keep it out of
# /autograder/source with chmod o=).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get update
# bubblewrap is the grader's strongest sandbox (grader/isolation/sandbox.py). Where the container
# does not let it create namespaces, the grader, run as root, falls back to a private user id.
apt-get install -y --no-install-recommends python3 python3-pip bubblewrap

# torch's CPU build: Gradescope's machines have no GPU, and the default build carries CUDA
# (gigabytes). Pinned to the versions the zip was built with (python -m grader gradescope writes
# them in), which are those the grader was tested with; torch and torchvision come from the same
# index so that they match. requirements.txt (what grading needs) then finds them installed.
python3 -m pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
    "torch==@TORCH@" "torchvision==@TORCHVISION@"
python3 -m pip install --no-cache-dir -r /autograder/source/requirements.txt

# The grader runs from /autograder/source and is not installed into site-packages, which the
# sandbox shows to the student's code. The hidden tests and the references are there: only root
# may read them (bubblewrap does not mount them at all; this covers the fallback mode).
chmod -R go= /autograder/source

# Fail the build now, not at the first submission, if the grader cannot import.
cd /autograder/source && python3 -c "import grader.plugin, grader.platforms.gradescope_run"
