#!/usr/bin/env bash
# JupyterLab for students (`make lab`): the exercises, opened from the course environment, without nbgrader's
# instructor panels (formgrader, "Create Assignment", course and assignment lists). The exercises are copied once
# into my-work/ (git-ignored; a copy that exists is never overwritten), so the released notebooks stay pristine
# and `python -m autograder check` compares your work with the real release.
# Usage: scripts/student_lab.sh [jupyter lab options]
#   VAE_WORK_DIR=DIR   where the copies live (default: my-work/ in the repository)
# How the panels are switched off: JUPYTER_CONFIG_PATH gains scripts/student-jupyter, whose
# jupyter_server_config.json disables nbgrader's server extensions and labconfig/page_config.json disables its
# JupyterLab extension. That folder takes precedence over the environment's own configuration (which enables
# them for instructors) and leaves your ~/.jupyter settings alone.
set -eo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${VAE_WORK_DIR:-$repo/my-work}
mkdir -p "$work"
for release in "$repo"/exercises/*/; do
  id=$(basename "$release")
  if [ ! -e "$work/$id" ]; then
    cp -r "$release" "$work/$id"
    echo "copied exercises/$id to $work/$id"
  fi
done
export VIRTUAL_ENV="$repo/.venv"
export PATH="$repo/.venv/bin:$PATH"
export JUPYTER_CONFIG_PATH="$repo/scripts/student-jupyter${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
echo "Check a notebook from a terminal in JupyterLab (File > New > Terminal): python -m autograder check ps3_elbo/ps3_elbo.ipynb"
echo "or from a new cell of the notebook itself: from autograder.checks import check_notebook; check_notebook()"
# the lab's terminals: an interactive (not login) bash with the course environment first on PATH (lab-terminal.bashrc)
terminal="{'shell_command': ['bash', '--rcfile', '$repo/scripts/lab-terminal.bashrc', '-i']}"
cd "$work"  # a new terminal opens in the file browser's folder, which JupyterLab names relative to here
exec jupyter lab --notebook-dir="$work" --ServerApp.terminado_settings="$terminal" "$@"
