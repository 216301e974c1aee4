#!/usr/bin/env bash
# Print the path of a working pythonX.Y interpreter (PATH first, then pyenv installs), or exit 1.
v=${1:?usage: find_python.sh 3.8}
for cand in "$(command -v "python$v" 2>/dev/null)" "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" /root/.pyenv/versions/"$v".*/bin/python"$v" /usr/bin/python"$v" /usr/local/bin/python"$v"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import sys' >/dev/null 2>&1; then
    echo "$cand"
    exit 0
  fi
done
exit 1
