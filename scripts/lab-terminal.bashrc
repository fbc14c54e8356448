# The shell of a terminal in the students' JupyterLab (`make lab`, File > New > Terminal).
# JupyterLab would otherwise start a login shell, and a login shell reads /etc/profile, which on Debian and Ubuntu
# sets PATH afresh and so drops the course environment: `python -m autograder check ...` then fails with
# "python: command not found". This is an interactive shell that reads the user's own ~/.bashrc and then puts the
# course environment first on PATH.
[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
course=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export VIRTUAL_ENV="$course/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
PS1="(vae-course) ${PS1:-\w \$ }"
